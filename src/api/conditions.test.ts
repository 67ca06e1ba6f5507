import { jsonEqual, setCondition, setConditions } from './conditions.js';

const ready = (status: 'True' | 'False', reason = 'R') => ({
  type: 'Ready',
  status,
  reason,
  message: 'm',
  observedGeneration: 1,
});

describe('setCondition', () => {
  it('keeps lastTransitionTime while the status stays, and moves it when the status changes', () => {
    const first = setCondition(undefined, ready('True'), 't1');
    expect(first[0]?.lastTransitionTime).toBe('t1');
    const same = setCondition(first, { ...ready('True', 'Other'), message: 'new' }, 't2');
    expect(same[0]).toEqual({ ...ready('True', 'Other'), message: 'new', lastTransitionTime: 't1' });
    const flipped = setCondition(same, ready('False'), 't3');
    expect(flipped[0]?.lastTransitionTime).toBe('t3');
  });

  it('keeps the order of existing conditions and appends new ones', () => {
    const list = setConditions(
      undefined,
      [ready('True'), { type: 'Conflict', status: 'False', reason: 'No', message: '' }],
      't',
    );
    const next = setCondition(list, ready('False'), 'u');
    expect(next.map((c) => c.type)).toEqual(['Ready', 'Conflict']);
  });
});

describe('jsonEqual', () => {
  it('ignores key order and undefined fields, and compares arrays in order', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: 2 }], d: undefined }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(jsonEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(jsonEqual(null, {})).toBe(false);
  });
});
