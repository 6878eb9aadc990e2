/**
 * The `catalog` actor: runs the catalog's pure transition (core/catalog.ts) over the
 * events sessions and registrations send it; its snapshot is the directory every lookup
 * and listing reads.
 */
import { fromTransition } from 'xstate'
import { applyCatalogEvent, initialCatalog } from '../core/catalog.js'

export interface CatalogInput {
  /** The engine's own trigger types, id → description. */
  builtins: Record<string, string>
}

export const catalogLogic = fromTransition(applyCatalogEvent, ({ input }: { input: CatalogInput }) => initialCatalog(input.builtins))
