import { describe, expect, it } from 'vitest';
import { buildXmlDialect, parseXmlDialect } from './xml-dialect.ts';

describe('XML dialects', () => {
  it('resolves character references once: &amp;#13; stays text, &#13; is a carriage return', () => {
    const doc = parseXmlDialect(Buffer.from('<R a="x&#10;y"><T>a&#13;b &amp;#13; &#xE4;&lt;</T></R>'));
    expect(doc.R).toEqual({ T: 'a\rb &#13; ä<', '@a': 'x\ny' });
  });

  it('refuses entities XML does not predefine (there is no DTD to define them)', () => {
    expect(() => parseXmlDialect(Buffer.from('<R>&nbsp;</R>'))).toThrow('undefined entity &nbsp;');
  });

  it('writes text and attributes so that a reader gets them back unchanged', () => {
    const tree = { R: { '@a': 'tab\there\r\nand "quotes"', T: 'line\r\nbreak & <markup>' } };
    expect(parseXmlDialect(buildXmlDialect(tree))).toEqual({ R: { T: tree.R.T, '@a': tree.R['@a'] } });
  });
});
