import { after, before, describe } from 'node:test';
import { testBackend } from 'databench-ts/testing';
import { createRedisBackend } from 'databench-ts/datastore/redis';
import { redisSkip, startRedis, type RedisServer } from '../../../test/redis.js';

describe('redis backend', { skip: redisSkip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  testBackend('redis', () => createRedisBackend(redis.url), { shared: true });
});
