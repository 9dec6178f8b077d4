// Header parameters (RFC 3261 §25.1 generic-param): the one-pass parser of plain parameters
// must agree with the split-and-trim reading it replaced, on values and on errors.
import { describe, expect, it } from 'vitest';
import {
  isToken,
  isTokenChar,
  type Param,
  parseParams,
  SipSyntaxError,
  skipQuoted,
  splitTopLevel,
} from '../src/sip/grammar.js';

/**
 * parseParams as it was before its one-pass scan (split at ';' or at top-level ';' when
 * quoted, trim, then check each part in order): the oracle for the rewrite.
 */
function reference(s: string): Param[] | string {
  try {
    const parts =
      s.includes('"') || s.includes('<') ? splitTopLevel(s, 59) : s.split(';').map((p) => p.trim());
    if (parts[0] !== '') throw new SipSyntaxError(`unexpected text before parameters: ${parts[0]}`);
    const params: Param[] = [];
    for (const part of parts.slice(1)) {
      if (part === '') throw new SipSyntaxError('empty parameter');
      const eq = part.indexOf('=');
      if (eq < 0) {
        if (!isToken(part)) throw new SipSyntaxError(`bad parameter ${part}`);
        params.push([part, null]);
        continue;
      }
      const name = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (!isToken(name)) throw new SipSyntaxError(`bad parameter name ${name}`);
      if (value === '') throw new SipSyntaxError(`empty value for parameter ${name}`);
      if (value[0] === '"') {
        if (skipQuoted(value, 0) !== value.length) throw new SipSyntaxError(`bad quoted value for ${name}`);
      } else if (value[0] === '[') {
        if (!/^\[[0-9a-fA-F:.]+\]$/.test(value)) throw new SipSyntaxError(`bad value for ${name}`);
      } else if (
        [...value].some((ch) => !isTokenChar(ch.charCodeAt(0)) && ch !== ':' && ch.charCodeAt(0) < 128)
      ) {
        throw new SipSyntaxError(`bad value for parameter ${name}`);
      }
      params.push([name, value]);
    }
    return params;
  } catch (e) {
    return (e as Error).message;
  }
}

function parsed(s: string): Param[] | string {
  try {
    return parseParams(s);
  } catch (e) {
    if (!(e instanceof SipSyntaxError)) throw e;
    return e.message;
  }
}

describe('parseParams', () => {
  it('reads flags and values with white space around the separators', () => {
    expect(parseParams(';branch=z9hG4bK1;rport')).toEqual([
      ['branch', 'z9hG4bK1'],
      ['rport', null],
    ]);
    expect(parseParams(' ; tag = abc ;\tlr ')).toEqual([
      ['tag', 'abc'],
      ['lr', null],
    ]);
    expect(parseParams('')).toEqual([]);
    expect(parseParams('  ')).toEqual([]);
    expect(parseParams(';received=2001:db8::9')).toEqual([['received', '2001:db8::9']]);
    expect(parseParams(';maddr=[2001:db8::1]')).toEqual([['maddr', '[2001:db8::1]']]);
  });

  it('rejects what the grammar does not allow', () => {
    expect(parsed('x;a=1')).toBe('unexpected text before parameters: x');
    expect(parsed(';a=1;;b')).toBe('empty parameter');
    expect(parsed(';a=1;')).toBe('empty parameter');
    expect(parsed(';a=')).toBe('empty value for parameter a');
    expect(parsed(';=1')).toBe('bad parameter name ');
    expect(parsed(';a b=1')).toBe('bad parameter name a b');
    expect(parsed(';a=b c')).toBe('bad value for parameter a');
    expect(parsed(';a@b')).toBe('bad parameter a@b');
    expect(parsed(';maddr=[zz]')).toBe('bad value for maddr');
  });

  it('agrees with the split-and-trim reading on generated inputs', () => {
    const pieces = [
      ' ',
      '\t',
      ';',
      ';',
      '=',
      'a',
      'tag',
      '1',
      'x y',
      '\u00a0',
      '[::1]',
      'b=2',
      ':',
      '"q"',
      '<',
    ];
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let k = 0; k < 3000; k++) {
      let s = '';
      const len = 1 + rnd(8);
      for (let i = 0; i < len; i++) s += pieces[rnd(pieces.length)];
      const want = reference(s);
      const got = parsed(s);
      expect(got, JSON.stringify(s)).toEqual(want);
    }
  });
});
