const CREDENTIALS_IN_URL = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@/?#\s]*@/gi;

/** Masks the password of a URL (`amqp://guest:***@host`). Never throws. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return redactUrlsInText(url);
  }
}

/** Masks `scheme://user:password@` credentials anywhere inside free text. */
export function redactUrlsInText(text: string): string {
  return text.replace(CREDENTIALS_IN_URL, '$1***@');
}
