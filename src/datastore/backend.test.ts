import { MemoryBackend } from 'databench';
import { testBackend } from 'databench/testing';

testBackend('memory', () => new MemoryBackend());
