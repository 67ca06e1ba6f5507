// The cluster suite (`npm run e2e`): e2e/**/*.test.ts against whatever cluster KUBECONFIG names — kind with Calico
// from hack/kind-up.sh (traffic between pods included), or any other cluster (see e2e/README.md). Same ts-jest ESM
// setup as the root jest.config.js; run with NODE_OPTIONS=--experimental-vm-modules (the npm script sets it).
const tsJest = ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json', diagnostics: false }];

/** @type {import('jest').Config} */
export default {
  // The repository root, so paths read the same as in the root config and tests may import src/ and test/.
  rootDir: '..',
  displayName: 'e2e',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  testMatch: ['<rootDir>/e2e/**/*.test.ts'],
  // One shared cluster: files run one after another so traffic checks never race other files' policies.
  maxWorkers: 1,
  // Pods pulling images and Calico programming policy on real nodes take minutes, not milliseconds.
  testTimeout: 300000,
};
