/**
 * The three output formats of `calico-vpc lint`: text for people and editors (`file:line:col: severity rule:
 * message`, the format compilers use, so editors jump to it), JSON for scripts, SARIF 2.1.0 for code scanning.
 */
import type { LintFinding } from './finding.js';
import { ALL_RULES, type LintRule } from './rules.js';

export const OUTPUT_FORMATS = ['text', 'json', 'sarif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function formatText(findings: readonly LintFinding[]): string {
  return findings
    .map((f) => `${f.file}:${f.line}:${f.col}: ${f.severity} ${f.ruleId}: ${f.message}\n`)
    .join('');
}

export function formatJson(findings: readonly LintFinding[]): string {
  return `${JSON.stringify(findings, null, 2)}\n`;
}

export interface SarifOptions {
  /** The tool's version, shown by code-scanning tools. */
  readonly version?: string;
}

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
export const SARIF_TOOL_NAME = 'calico-vpc-lint';

/**
 * A SARIF 2.1.0 log as GitHub code scanning reads it: every rule with its help, each result with ruleId/ruleIndex,
 * level and a physical location (a relative URI and a 1-based region).
 */
export function formatSarif(findings: readonly LintFinding[], options: SarifOptions = {}): string {
  const ruleIndex = new Map(ALL_RULES.map((rule, index) => [rule.id, index]));
  const log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: SARIF_TOOL_NAME,
            ...(options.version ? { version: options.version, semanticVersion: options.version } : {}),
            rules: ALL_RULES.map(sarifRule),
          },
        },
        columnKind: 'utf16CodeUnits',
        results: findings.map((f) => ({
          ruleId: f.ruleId,
          ...(ruleIndex.has(f.ruleId) ? { ruleIndex: ruleIndex.get(f.ruleId) } : {}),
          level: f.severity,
          message: { text: f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: artifactUri(f.file) },
                region: { startLine: f.line, startColumn: f.col },
              },
            },
          ],
          ...(f.suggestion !== undefined ? { properties: { suggestion: f.suggestion } } : {}),
        })),
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

function sarifRule(rule: LintRule) {
  return {
    id: rule.id,
    name: rule.id
      .split('-')
      .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
      .join(''),
    shortDescription: { text: rule.summary },
    fullDescription: { text: rule.summary },
    help: { text: rule.help, markdown: rule.help },
    defaultConfiguration: { level: rule.severity },
    properties: {
      tags: ['kubernetes', 'network-policy', 'calico'],
      precision: rule.severity === 'error' ? 'very-high' : 'medium',
    },
  };
}

/**
 * A file name as a SARIF URI: relative paths stay relative (code scanning resolves them against the repository
 * root), with `/` separators and URI escapes; absolute paths become `file://` URIs.
 */
export function artifactUri(file: string): string {
  const slashed = file.replace(/\\/g, '/');
  const encoded = slashed
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  if (/^[A-Za-z]:\//.test(slashed)) return `file:///${encoded.replace('%3A', ':')}`;
  if (slashed.startsWith('/')) return `file://${encoded}`;
  return encoded.replace(/^\.\//, '');
}
