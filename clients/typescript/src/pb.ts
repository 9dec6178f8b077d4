// The generated protobuf types of the contract (proto/nksip/v1), in one namespace. The SDK's
// friendly types are built on these; use them directly when you need a field the SDK does
// not surface.
export * from './gen/nksip/v1/decisions.js';
// service.ts last, and its helpers named explicitly: every generated file exports them.
export * from './gen/nksip/v1/service.js';
export {
  type DeepPartial,
  type Exact,
  type MessageFns,
  protobufFileName,
  protobufPackage,
} from './gen/nksip/v1/service.js';
export * from './gen/nksip/v1/sip.js';
export * from './gen/nksip/v1/uac.js';
