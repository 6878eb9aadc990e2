/**
 * The functions the engine serves itself, by id, with what each takes and answers. Workers
 * call them with `invokefunction` like any function; their ids are reserved (registering
 * one is `duplicate_function_id`). The implementations are in actors/engine-functions.ts,
 * which must implement exactly these.
 */
export const ENGINE_FUNCTIONS = {
  'engine::workers::register': 'A worker describes itself: `{name?, runtime?, version?, pid?}` → `{worker_id}`',
  'engine::workers::list': 'Connected workers → `{workers: [{worker_id, name?, runtime?, version?, pid?, connected_at, functions, trigger_types, triggers}]}`',
  'engine::functions::list': 'Functions offered, engine functions first → `{functions: [{function_id, engine?, description?, metadata?, workers}]}`',
  'engine::trigger-types::list': 'Trigger types and who provides them → `{trigger_types: [{id, description?, worker_id}]}`',
  'engine::triggers::list': 'Trigger registrations of live sessions → `{triggers: [{id, trigger_type, function_id, worker_id, state, config, next_run?}]}`',
  'engine::queue::send': 'Stores a message: `{queue_name, body, delay_seconds?, message_group_id?, deduplication_id?}` → `{message_id}` (a duplicate within the deduplication window: the first send\'s id)',
  'engine::queue::list': 'Every queue that holds messages or has consumers → `{queues: [{queue_name, ready, in_flight, delayed, dead_lettered, oldest_message_age_seconds?, fifo, consumers}]}`',
  'engine::queue::dlq': 'Dead letters: `{queue_name | dead_letter_queue, action: list | redrive, limit?, message_ids?}` → `{messages}` or `{redriven}`',
} as const

export type EngineFunctionId = keyof typeof ENGINE_FUNCTIONS

/** Whether `id` names an engine function (every one starts `engine::`: other ids are told apart without a lookup). */
export const isEngineFunction = (id: string): id is EngineFunctionId => id.startsWith('engine::') && Object.hasOwn(ENGINE_FUNCTIONS, id)
