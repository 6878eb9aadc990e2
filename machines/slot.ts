/**
 * An actor a machine needs but may not import, because it lives in a higher layer
 * (actors/, adapters/; see docs/architecture.md). The machine declares the slot in its
 * `setup({ actors })`; the composition root (adapters/engine.ts) fills it with
 * `machine.provide({ actors: { name: logic } })`. Started unfilled, it fails and says so.
 */
import { fromCallback, type AnyActorLogic } from 'xstate'

export const slot = (machine: string, name: string): AnyActorLogic =>
  fromCallback(() => {
    throw new Error(`The ${machine} machine's actor '${name}' was not provided: createEngine (adapters/engine.ts) fills it with .provide({ actors: { ${name} } })`)
  })
