// Two projects: `unit` (pure logic, milliseconds, no cluster) and `integration` (a real kube-apiserver + etcd,
// started once per run by the global setup). `npm test` runs both.
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
  ],
};
