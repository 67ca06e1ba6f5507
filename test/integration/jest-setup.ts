// Integration tests wait on a real API server (control planes start in ~10 s); jest's 5 s default is for unit tests.
import { jest } from '@jest/globals';

jest.setTimeout(180_000);
