/**
 * The one entry point: `calico-vpc run` (the controller) and the offline tools. Each command lives in
 * ./commands/<name>.ts and exports `register(program, io)`; this file only assembles them.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliExit, type CliIO } from './io.js';

let version: string | undefined;

/**
 * The package's version, from the package.json two directories up: the repository's for src/cli/ (tsx) and
 * dist/cli/, the image's /app/package.json for the bundle in dist/bundle/ (the Dockerfile copies it there).
 */
export function packageVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    version = pkg.version ?? 'unknown';
  }
  return version;
}

export type CommandRegistrar = (program: Command, io: CliIO) => void;

export function buildProgram(io: CliIO, registrars: readonly CommandRegistrar[]): Command {
  const program = new Command('calico-vpc')
    .description(
      'Reconciles Kubernetes NetworkPolicies and per-zone VPE gateway egress rules to Calico GlobalNetworkPolicies.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const register of registrars) register(program, io);
  return program;
}

/** Runs the CLI and returns the process exit code; never calls process.exit itself. */
export async function runCli(argv: readonly string[], io: CliIO, registrars: readonly CommandRegistrar[]) {
  const program = buildProgram(io, registrars);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) io.stderr(err.message.endsWith('\n') ? err.message : `${err.message}\n`);
      return err.code;
    }
    if (err instanceof CommanderError) return err.exitCode;
    io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
