/**
 * An http route as the engine holds it once a trigger's config is validated
 * (core/http-config.ts makes it), and as it travels between the engines of a cluster (the
 * routes bucket, protocol/cluster.ts): a valibot schema and its inferred type.
 */
import * as v from 'valibot'

/** The methods an http trigger may bind, in the order `Allow` lists them. */
export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** A validated http route. */
export const HttpRoute = v.object({
  method: v.picklist(HTTP_METHODS),
  /** The path as the user wrote it, with one leading slash (`health` is `/health`). */
  path: v.string(),
  /** The pattern handed to the router (`:name`, `**:rest`). */
  pattern: v.string(),
  /** Identity of the route's shape: parameter names left out (`/users/:`), no trailing slash. */
  shape: v.string(),
  /** Parameter names in order, for the conflict check. */
  params: v.array(v.string()),
  /** The trigger's own call timeout (ms), when it gave one. */
  timeout_ms: v.optional(v.number()),
})
export type HttpRoute = v.InferOutput<typeof HttpRoute>
