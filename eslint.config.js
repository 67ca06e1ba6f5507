import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The pure core never does I/O: no Kubernetes client, no controller, no CLI (see the README's Layout).
    files: [
      'src/translate/**',
      'src/policy/**',
      'src/lint/**',
      'src/manifests/**',
      'src/calico/**',
      'src/api/**',
      'src/selectors/**',
      'src/util/**',
      'src/vpe/**',
    ],
    // The VPE profile's one shell: discovery reads a Secret and records Events.
    ignores: ['src/vpe/discovery.ts', 'src/vpe/discovery.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/kube/**', '**/controller/**', '**/cli/**'],
              message: 'the pure core may not import the shell',
            },
            {
              group: ['@kubernetes/client-node'],
              message: 'the pure core may not use the Kubernetes client',
            },
          ],
        },
      ],
    },
  },
);
