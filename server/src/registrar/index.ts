export * from './binding.js';
export * from './registrar.js';
export * from './store.js';
