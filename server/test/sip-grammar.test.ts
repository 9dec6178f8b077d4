// Header parameters (RFC 3261 §25.1 generic-param): the one-pass parser of plain parameters
// must agree with the split-and-trim reading it replaced, on values and on errors.
import { describe, expect, it } from 'vitest';
import { type Param, paramsOfParts, parseParams, SipSyntaxError, splitTopLevel } from '../src/sip/grammar.js';

/**
 * The reading parseParams had before its one-pass scan for plain parameters: split at every
 * ';', trim each part, then check the parts in order (the checks are the ones quoted values
 * still go through). The oracle for the scan.
 */
function reference(s: string): Param[] | string {
  try {
    const parts =
      s.includes('"') || s.includes('<') ? splitTopLevel(s, 59) : s.split(';').map((p) => p.trim());
    return paramsOfParts(parts);
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
