import { formatFieldError, formatPath } from './errors.js';

describe('formatPath', () => {
  it('writes paths as Kubernetes does', () => {
    expect(formatPath(['spec', 'ingress', 0, 'from', 1, 'NamespaceSelector'])).toBe(
      'spec.ingress[0].from[1].NamespaceSelector',
    );
    expect(formatPath(['metadata', 'labels', 'app.kubernetes.io/name'])).toBe(
      'metadata.labels[app.kubernetes.io/name]',
    );
    expect(formatPath([0, 'cidr'])).toBe('[0].cidr');
    expect(formatPath([])).toBe('');
  });
});

describe('formatFieldError', () => {
  it('prefixes the message with the formatted path, or prints the message alone for the whole input', () => {
    expect(formatFieldError({ path: ['spec', 'zones', 1, 'name'], message: 'required' })).toBe(
      'spec.zones[1].name: required',
    );
    expect(formatFieldError({ path: [], message: 'not JSON' })).toBe('not JSON');
  });
});
