import { DOMParser } from '@xmldom/xmldom';
import { rueckmeldung0201 } from '../xmeld/25.11/index.ts';
import { fromElement } from '../xoev/xml-codec.ts';
const doc = new DOMParser().parseFromString('<a/>', 'text/xml');
fromElement(rueckmeldung0201, doc.documentElement!);
