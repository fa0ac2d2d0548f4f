/**
 * Test helpers for catalogued documents (test code only): parse, read examples, validate with Debian's
 * xmllint as the independent XSD validator, and catch GatewayErrors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { expect } from 'vitest';
import { GatewayError } from '../../../gateway/errors/catalogue.ts';
import type { MessageTypeSpec, StandardVersion, XoevMessage } from '../../catalogue.ts';
import { catalogue } from '../../index.ts';
import { fromElement, validateMessage } from '../xml-codec.ts';

export function parse(xml: string): Document {
  const doc = new DOMParser({
    onError: (level: string, message: string) => {
      if (level !== 'warning') throw new Error(`XML ${level}: ${message}`);
    },
  }).parseFromString(xml, 'text/xml');
  return doc as unknown as Document;
}

export function rootOf(xml: string): Element {
  return parse(xml).documentElement;
}

export function versionOf(spec: MessageTypeSpec): StandardVersion {
  return catalogue.get(spec.standard, spec.version)!;
}

export interface LintResult {
  valid: boolean[];
  output: string;
}

/** Validates documents with Debian's xmllint, all in one process per XSD. Fails if xmllint is missing. */
export function xmllint(xsdPath: string, docs: string[]): LintResult {
  const dir = mkdtempSync(path.join(tmpdir(), 'xmllint-'));
  try {
    const files = docs.map((doc, i) => {
      const file = path.join(dir, `doc-${String(i).padStart(5, '0')}.xml`);
      writeFileSync(file, doc);
      return file;
    });
    const r = spawnSync('xmllint', ['--noout', '--schema', xsdPath, ...files], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.error)
      throw new Error(`xmllint could not be run (apt-get install libxml2-utils): ${r.error.message}`);
    const output = `${r.stdout}${r.stderr}`;
    if (/failed to compile|WXS schema .* failed/.test(output))
      throw new Error(`the XSD does not compile:\n${output}`);
    const valid = files.map((f) => {
      if (output.includes(`${f} validates`)) return true;
      if (output.includes(`${f} fails to validate`)) return false;
      throw new Error(`xmllint said nothing about ${f}:\n${output.slice(0, 4000)}`);
    });
    return { valid, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function expectAllValid(xsdPath: string, docs: string[]): void {
  const { valid, output } = xmllint(xsdPath, docs);
  const bad = valid.indexOf(false);
  if (bad >= 0) {
    const lines = output.split('\n').filter((l) => l.includes(`doc-${String(bad).padStart(5, '0')}`));
    expect.fail(
      `${valid.filter((v) => !v).length} of ${docs.length} documents fail the XSD; first:\n${lines.join('\n')}\n${docs[bad]}`,
    );
  }
}

export function caught(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

export function exampleXml(spec: MessageTypeSpec): string {
  return readFileSync(path.join(versionOf(spec).examplesDir, `${spec.name}.xml`), 'utf8');
}

export function exampleMessage(spec: MessageTypeSpec): XoevMessage {
  return validateMessage(spec, fromElement(spec, rootOf(exampleXml(spec))));
}
