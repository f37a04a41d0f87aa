/** The URL with its password replaced by `***`, for logs. Never throws. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

/**
 * The broker user a connection to `url` authenticates as, the way amqplib reads it: the URL's user name,
 * `guest` when the URL carries no credentials at all. This is the `user_id` the broker accepts on its
 * publishes (RabbitMQ refuses any other with PRECONDITION_FAILED).
 */
export function urlUser(url: string): string {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return 'guest';
  return decodeURIComponent(u.username);
}
