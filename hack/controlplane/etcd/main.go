// Command etcd is upstream's etcd server main (go.etcd.io/etcd/server/v3's root package), unchanged.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
