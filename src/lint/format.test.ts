import type { LintFinding } from './finding.js';
import { artifactUri, formatJson, formatSarif, formatText, SARIF_TOOL_NAME } from './format.js';
import { ALL_RULES, RULES } from './rules.js';

const findings: LintFinding[] = [
  {
    file: 'dir/np.yaml',
    line: 3,
    col: 5,
    severity: 'error',
    ruleId: RULES.unknownField.id,
    message: 'unknown field "x"; did you mean "y"?',
    suggestion: 'y',
  },
  {
    file: 'dir/np.yaml',
    line: 9,
    col: 1,
    severity: 'warning',
    ruleId: RULES.peersOrVsAnd.id,
    message: 'two peers',
  },
];

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: {
      driver: {
        name: string;
        rules: {
          id: string;
          help: { text: string; markdown: string };
          defaultConfiguration: { level: string };
        }[];
      };
    };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: {
        physicalLocation: {
          artifactLocation: { uri: string };
          region: { startLine: number; startColumn: number };
        };
      }[];
    }[];
  }[];
}

describe('formatText', () => {
  it('prints file:line:col: severity rule-id: message, one finding per line', () => {
    expect(formatText(findings)).toBe(
      'dir/np.yaml:3:5: error unknown-field: unknown field "x"; did you mean "y"?\ndir/np.yaml:9:1: warning peers-or-vs-and: two peers\n',
    );
    expect(formatText([])).toBe('');
  });
});

describe('formatJson', () => {
  it('prints the findings as an array', () => {
    expect(JSON.parse(formatJson(findings))).toEqual(findings);
    expect(JSON.parse(formatJson([]))).toEqual([]);
  });
});

describe('formatSarif', () => {
  it('writes a SARIF 2.1.0 log with every rule and each result pointing at its rule and location', () => {
    const log = JSON.parse(formatSarif(findings, { version: '1.2.3' })) as SarifLog;
    expect(log.version).toBe('2.1.0');
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(log.runs).toHaveLength(1);
    const [run] = log.runs;
    expect(run?.tool.driver).toEqual(expect.objectContaining({ name: SARIF_TOOL_NAME, version: '1.2.3' }));
    const rules = run?.tool.driver.rules ?? [];
    expect(rules.map((r) => r.id)).toEqual(ALL_RULES.map((r) => r.id));
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.help.text.length).toBeGreaterThan(0);
      expect(['error', 'warning']).toContain(rule.defaultConfiguration.level);
    }
    expect(run?.results).toEqual([
      {
        ruleId: 'unknown-field',
        ruleIndex: ALL_RULES.indexOf(RULES.unknownField),
        level: 'error',
        message: { text: 'unknown field "x"; did you mean "y"?' },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: 'dir/np.yaml' },
              region: { startLine: 3, startColumn: 5 },
            },
          },
        ],
        properties: { suggestion: 'y' },
      },
      {
        ruleId: 'peers-or-vs-and',
        ruleIndex: ALL_RULES.indexOf(RULES.peersOrVsAnd),
        level: 'warning',
        message: { text: 'two peers' },
        locations: [
          {
            physicalLocation: {
              artifactLocation: { uri: 'dir/np.yaml' },
              region: { startLine: 9, startColumn: 1 },
            },
          },
        ],
      },
    ]);
    for (const result of run?.results ?? []) expect(rules[result.ruleIndex]?.id).toBe(result.ruleId);
  });
});

describe('artifactUri', () => {
  it('keeps relative paths relative and URI-escaped, and makes absolute ones file URIs', () => {
    expect(artifactUri('./policies/np.yaml')).toBe('policies/np.yaml');
    expect(artifactUri('../shared/seed/a b.yaml')).toBe('../shared/seed/a%20b.yaml');
    expect(artifactUri('/work/x/np#1.yaml')).toBe('file:///work/x/np%231.yaml');
    expect(artifactUri('C:\\repo\\np.yaml')).toBe('file:///C:/repo/np.yaml');
    expect(artifactUri('<stdin>')).toBe('%3Cstdin%3E');
  });
});
