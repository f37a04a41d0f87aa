import { ALARM_PERMISSIONS, type AlarmPermission } from '@sensor-streaming/control';

/**
 * Which broker users hold which alarm permission (ALARM_RPC_GRANTS). The user is the request's AMQP
 * user_id, which the broker has checked against the caller's connection; never a field of the request.
 *
 * Format: `<permission>=<user>[,<user>...]` separated by `;`, e.g.
 * `alarms.ack=op.operator,op.shift-*;alarms.shelve=op.operator;alarms.maintenance=op.operator`.
 * A user ending in `*` matches every user name with that prefix. A permission left out is held by nobody.
 */
export interface AlarmGrants {
  holders(permission: AlarmPermission): readonly string[];
  allows(user: string, permission: AlarmPermission): boolean;
}

/** The development default: `op.operator` and `guest` (compose's local broker user) hold everything. */
export const DEFAULT_ALARM_RPC_GRANTS = ALARM_PERMISSIONS.map((p) => `${p}=op.operator,guest`).join(';');

const USER = /^[A-Za-z0-9_.@:-]{1,128}\*?$/;

/** Parses ALARM_RPC_GRANTS; throws an Error naming every problem (the config lists it under the variable). */
export function parseAlarmGrants(text: string): AlarmGrants {
  const problems: string[] = [];
  const table = new Map<AlarmPermission, string[]>();
  for (const [i, part] of text.split(';').entries()) {
    const entry = part.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    if (eq < 0) {
      problems.push(`entry ${i + 1} ${JSON.stringify(entry)} has no '=' (permission=user,user)`);
      continue;
    }
    if (!ALARM_PERMISSIONS.includes(name as AlarmPermission)) {
      problems.push(`unknown permission ${JSON.stringify(name)} (one of ${ALARM_PERMISSIONS.join(', ')})`);
      continue;
    }
    if (table.has(name as AlarmPermission)) {
      problems.push(`permission ${name} is given twice`);
      continue;
    }
    const users = entry
      .slice(eq + 1)
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '');
    for (const u of users) {
      if (!USER.test(u) || u === '*')
        problems.push(`${name}: ${JSON.stringify(u)} is not a user name or a prefix ending in * (like op.*)`);
    }
    table.set(name as AlarmPermission, users);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return {
    holders: (permission) => table.get(permission) ?? [],
    allows: (user, permission) =>
      (table.get(permission) ?? []).some((u) =>
        u.endsWith('*') ? user.startsWith(u.slice(0, -1)) : u === user,
      ),
  };
}
