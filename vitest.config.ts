import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'services/*', 'cli/*'],
    // Two cores: integration tests share one RabbitMQ and one PostgreSQL,
    // each test isolates itself by vhost / schema / queue names.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
