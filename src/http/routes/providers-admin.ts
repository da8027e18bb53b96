import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import { formatPath } from '../../core/validate-request.ts';
import { readExchangeJson } from '../body.ts';
import type { Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';

/** `POST /v1/providers/toggle`: an instance by its `/health` name, switched on or off. */
export const toggleBody = z.strictObject({ name: z.string().min(1).max(200), enabled: z.boolean() });

/** The instance's name and its new state. */
export const toggleReplySchema = z.strictObject({ name: z.string(), enabled: z.boolean() });

/**
 * `POST /v1/providers/toggle {name, enabled}` (seed 001): switches one provider instance off or on at runtime,
 * by its `/health` name. Admin only: it needs the master key when one is configured (without a key Nexus
 * serves only loopback, where every caller is the operator). The switch is local to this replica.
 */
export const providerAdminRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'POST',
    path: '/v1/providers/toggle',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) =>
      async function toggle(exchange) {
        if (exchange.principal?.kind === 'key') {
          throw new NexusError('permission_denied', 'Switching provider instances needs the master key.');
        }
        const parsed = toggleBody.safeParse(await readExchangeJson(gateway, exchange));
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          const param = formatPath(issue.path);
          throw new NexusError('invalid_request', `Invalid '${param || 'body'}': ${issue.message}.`, {
            param: param || undefined,
          });
        }
        const instance = gateway.registry.instanceByName(parsed.data.name);
        if (instance === undefined) {
          throw new NexusError(
            'invalid_request',
            `No provider instance is named '${parsed.data.name}'. Names: ${gateway.registry.instances.map((entry) => entry.name).join(', ')}.`,
            { param: 'name', status: 404 },
          );
        }
        if (parsed.data.enabled) {
          gateway.pipeline.disabled.delete(instance.id);
          // Switching a key on is the operator saying it works again (a key the provider refused was fixed).
          gateway.pipeline.rejectedKeys.restore(instance.id);
        } else gateway.pipeline.disabled.add(instance.id);
        gateway.log.info(
          { instance: instance.name, enabled: parsed.data.enabled },
          'provider instance toggled',
        );
        const body: z.output<typeof toggleReplySchema> = {
          name: instance.name,
          enabled: parsed.data.enabled,
        };
        sendJson(exchange.response, 200, body);
      },
  },
];
