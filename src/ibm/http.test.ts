import { IbmCloudError, redact } from './errors.js';
import { isRetryableStatus, joinUrl, parseRetryAfter, parseServiceUrl } from './http.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it('reads delay-seconds and HTTP-dates', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:30 GMT', now)).toBe(30_000);
  });

  it('treats a date in the past as "now" and ignores what it cannot read', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
  });
});

describe('isRetryableStatus', () => {
  it('retries 429 and 5xx that may pass, nothing else', () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([200, 400, 401, 403, 404, 409, 501, 505].some(isRetryableStatus)).toBe(false);
  });
});

describe('parseServiceUrl', () => {
  it('accepts https anywhere and http only on loopback', () => {
    expect(parseServiceUrl('https://us-south.iaas.cloud.ibm.com/v1', 'endpoint').origin).toBe(
      'https://us-south.iaas.cloud.ibm.com',
    );
    expect(parseServiceUrl('http://127.0.0.1:8080/v1', 'endpoint').port).toBe('8080');
    expect(parseServiceUrl('http://localhost:8080', 'endpoint').hostname).toBe('localhost');
    expect(() => parseServiceUrl('http://10.0.0.1/v1', 'spec.endpoint')).toThrow(
      'spec.endpoint "http://10.0.0.1/v1" must use https',
    );
  });

  it('rejects non-URLs, credentials, queries and fragments', () => {
    expect(() => parseServiceUrl('us-south', 'endpoint')).toThrow('is not a URL');
    expect(() => parseServiceUrl('https://u:p@host/v1', 'endpoint')).toThrow('must not contain credentials');
    expect(() => parseServiceUrl('https://host/v1?x=1', 'endpoint')).toThrow('must not have a query');
    expect(() => parseServiceUrl('ftp://host', 'endpoint')).toThrow(IbmCloudError);
  });
});

describe('joinUrl', () => {
  it('keeps the base path with or without a trailing slash', () => {
    expect(joinUrl(new URL('https://h/v1'), 'vpcs/x').href).toBe('https://h/v1/vpcs/x');
    expect(joinUrl(new URL('https://h/v1/'), '/vpcs/x').href).toBe('https://h/v1/vpcs/x');
    expect(joinUrl(new URL('https://h'), 'identity/token').href).toBe('https://h/identity/token');
  });
});

describe('redact', () => {
  it('removes every occurrence of each secret and ignores empty ones', () => {
    expect(redact('a KEY b KEY', ['KEY', ''])).toBe('a <redacted> b <redacted>');
  });
});
