import { parseUrl } from './url.js';

describe('parseUrl', () => {
  it('parses what new URL parses and is undefined for the rest', () => {
    expect(parseUrl('https://u:p@api.example:6443/base')?.host).toBe('api.example:6443');
    expect(parseUrl('proxy.corp:3128')?.protocol).toBe('proxy.corp:');
    expect(parseUrl('not a url')).toBeUndefined();
    expect(parseUrl('')).toBeUndefined();
  });
});
