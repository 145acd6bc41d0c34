import { MemoryBackend } from 'databench-ts';
import { testBackend } from 'databench-ts/testing';

testBackend('memory', () => new MemoryBackend());
