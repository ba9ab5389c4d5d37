import { describe, expect, test } from 'vitest';
import type { TestModule } from 'vitest/node';
import { CellCollector } from './collector.ts';

/** The parts of vitest's TestModule the collector reads, as vitest reports a suite file that threw while loading. */
function moduleOf(file: string, errors: { name: string; message: string }[], tests = 0): TestModule {
  return { moduleId: `/x/suites/${file}`, errors: () => errors, children: { allTests: () => Array.from({ length: tests }) } } as unknown as TestModule;
}

describe('a suite file that cannot be loaded (fail closed)', () => {
  test('it is recorded as a load error of that suite, so the run gets an ERROR cell instead of no cell', () => {
    const c = new CellCollector();
    c.onTestModuleEnd(moduleOf('security.suite.ts', [{ name: 'Error', message: 'CRIU_COMPAT_CANARY_FILE is readable by others' }]));
    expect(c.loadErrors).toEqual([{ suite: 'security', message: 'Error: CRIU_COMPAT_CANARY_FILE is readable by others', stack: [''] }]);
  });
  test('a module whose tests ran keeps its errors on those tests (no second cell); an interrupted run records none', () => {
    const c = new CellCollector();
    c.onTestModuleEnd(moduleOf('round-trip.suite.ts', [{ name: 'Error', message: 'beforeAll failed' }], 3));
    c.onTestModuleEnd(moduleOf('cri.suite.ts', []));
    c.interrupted = true;
    c.onTestModuleEnd(moduleOf('runtime.suite.ts', [{ name: 'Error', message: 'aborted' }]));
    expect(c.loadErrors).toEqual([]);
  });
});
