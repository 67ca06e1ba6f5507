/** The linter's public surface: run every rule, format the findings. */
export { lintManifests, type LintInput } from './lint.js';
export { compareFindings, type LintFinding } from './finding.js';
export {
  formatJson,
  formatSarif,
  formatText,
  OUTPUT_FORMATS,
  type OutputFormat,
  type SarifOptions,
} from './format.js';
export { ALL_RULES, RULES, type LintRule, type Severity } from './rules.js';
