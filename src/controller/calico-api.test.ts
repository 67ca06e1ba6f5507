import { chooseCalicoApi } from './calico-api.js';

describe('chooseCalicoApi', () => {
  it('prefers projectcalico.org/v3 where served, else crd.projectcalico.org/v1', () => {
    expect(chooseCalicoApi({ v3: true, crd: true }, 'auto')).toBe('v3');
    expect(chooseCalicoApi({ v3: false, crd: true }, 'auto')).toBe('crd');
    expect(chooseCalicoApi({ v3: true, crd: true }, 'crd')).toBe('crd');
  });

  it('fails clearly when Calico is not installed or the override is not served', () => {
    expect(() => chooseCalicoApi({ v3: false, crd: false }, 'auto')).toThrow(/Calico is not installed/);
    expect(() => chooseCalicoApi({ v3: false, crd: true }, 'v3')).toThrow(
      /does not serve projectcalico.org\/v3/,
    );
  });
});
