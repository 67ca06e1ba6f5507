// Three projects: `unit` (pure logic, milliseconds, no cluster), `integration` (a real kube-apiserver + etcd,
// started once per run by the global setup) and `felix` (real Calico Felix and real packets in network namespaces,
// test/felix/; each file starts its own environments and skips loudly where it cannot run). `npm test` runs all.
const tsJest = ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }];
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  // Property tests run thousands of cases; on a loaded 2-core machine one can take several seconds.
  testTimeout: 60_000,
  // Integration test files share one API server and isolate themselves by namespace and name; fault tests
  // that restart an API server start a dedicated control plane of their own.
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.js',
      globalTeardown: '<rootDir>/test/integration/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/integration/jest-setup.ts'],
    },
    {
      ...common,
      displayName: 'felix',
      testMatch: ['<rootDir>/test/felix/**/*.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/integration/jest-setup.ts'],
    },
  ],
};
