export * from '../../src/dev/bhxh-simulator.js';
