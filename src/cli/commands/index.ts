/** Every CLI command, in the order `--help` lists them. Add a command by adding its registrar here. */
import type { CommandRegistrar } from '../program.js';
import { registerConnectivity } from './connectivity.js';
import { registerDiff } from './diff.js';
import { registerImportPrefixes } from './import-prefixes.js';
import { registerLint } from './lint.js';
import { registerRender } from './render.js';
import { registerRun } from './run.js';

export const commands: CommandRegistrar[] = [
  registerRun,
  registerRender,
  registerImportPrefixes,
  registerLint,
  registerConnectivity,
  registerDiff,
];
