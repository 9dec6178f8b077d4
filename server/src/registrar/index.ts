export * from './binding.js';
export * from './gruu.js';
export * from './registrar.js';
export * from './store.js';
