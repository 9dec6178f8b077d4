// Header edits for replies, proxied requests and UAC requests (proto HeaderOp).
import { type HeaderOp, HeaderOp_Kind } from './gen/nksip/v1/decisions.js';

/** One edit of a message's headers. */
export type HeaderEdit =
  /** Append a line after any existing ones. */
  | { readonly op: 'add'; readonly name: string; readonly value: string }
  /** Remove every line of the header, then add this value (an empty value only removes). */
  | { readonly op: 'replace'; readonly name: string; readonly value: string }
  /** Put a line before any existing ones. */
  | { readonly op: 'insert'; readonly name: string; readonly value: string }
  /** Remove every line of the header. */
  | { readonly op: 'remove'; readonly name: string };

/**
 * Headers to set: a list of edits, or a plain object `{ name: value | [values] }` whose
 * entries are all added.
 */
export type HeadersInput = readonly HeaderEdit[] | Readonly<Record<string, string | readonly string[]>>;

export const addHeader = (name: string, value: string): HeaderEdit => ({ op: 'add', name, value });
export const replaceHeader = (name: string, value: string): HeaderEdit => ({ op: 'replace', name, value });
export const insertHeader = (name: string, value: string): HeaderEdit => ({ op: 'insert', name, value });
export const removeHeader = (name: string): HeaderEdit => ({ op: 'remove', name });

const KIND: Record<HeaderEdit['op'], HeaderOp_Kind> = {
  add: HeaderOp_Kind.KIND_ADD,
  replace: HeaderOp_Kind.KIND_REPLACE,
  insert: HeaderOp_Kind.KIND_INSERT,
  remove: HeaderOp_Kind.KIND_REMOVE,
};

/** Converts header input to the proto's header operations. */
export function toHeaderOps(input: HeadersInput | undefined): HeaderOp[] {
  if (input === undefined) return [];
  if (isEditList(input)) {
    return input.map((e) => ({ kind: KIND[e.op], name: e.name, value: e.op === 'remove' ? '' : e.value }));
  }
  const ops: HeaderOp[] = [];
  for (const [name, v] of Object.entries(input)) {
    for (const value of typeof v === 'string' ? [v] : v)
      ops.push({ kind: HeaderOp_Kind.KIND_ADD, name, value });
  }
  return ops;
}

function isEditList(input: HeadersInput): input is readonly HeaderEdit[] {
  return Array.isArray(input);
}
