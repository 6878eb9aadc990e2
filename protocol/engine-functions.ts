/**
 * The functions the engine serves itself, by id, with what each takes and answers. Workers
 * call them with `invokefunction` like any function; their ids are reserved (registering
 * one is `duplicate_function_id`). The implementations are in actors/engine-functions.ts,
 * which must implement exactly these.
 */
export const ENGINE_FUNCTIONS = {
  'engine::workers::register': 'A worker describes itself: `{name?, runtime?, version?, pid?}` → `{worker_id}`',
  'engine::workers::list': 'Connected workers → `{workers: [{worker_id, id, name?, runtime?, version?, pid?, status, connected_at, connected_at_ms, function_count, functions, trigger_types, triggers, engine_id?}]}` (in a cluster: every engine\'s, each with its `engine_id`)',
  'engine::workers::info': 'One worker, by the name it gave or its id: `{name} | {worker_id}` → `{worker, functions, trigger_types, registered_triggers}`',
  'engine::functions::list': 'Functions offered, engine functions first → `{functions: [{function_id, worker_name, engine?, description?, metadata?, workers, engine_id?}]}` (in a cluster: every engine\'s, each with its `engine_id`)',
  'engine::functions::info': 'One function: `{function_id}` → `{function_id, worker_name, description?, request_schema?, response_schema?, metadata?, registered_triggers, workers}`',
  'engine::triggers::list': 'Trigger TYPES (iii 0.22.1\'s name): `{search?, prefix?, worker?, include_internal?}` → `{triggers: [{id, worker_name, description, worker_id}]}`',
  'engine::triggers::info': 'One trigger type: `{id}` → `{id, worker_name, description, worker_id, instance_count}`',
  'engine::trigger-types::list': 'Trigger types and who provides them (the alias signalbox had before iii 0.22.1\'s names) → `{trigger_types: [{id, description?, worker_id}]}`',
  'engine::registered-triggers::list':
    'Trigger registrations (instances) of live sessions: `{search?, trigger_type?, function_id?, worker?, include_internal?}` → `{registered_triggers: [{id, trigger_type, function_id, worker_name, config, config_summary, worker_id, state, next_run?, engine_id?}]}` (in a cluster: every engine\'s, each with its `engine_id`)',
  'engine::registered-triggers::info': 'One registration: `{id, worker_id?}` → its row with `metadata?`, `trigger` (its type) and `function`',
  'engine::channels::create':
    'A data channel (iii\'s name): `{buffer_size?}` (frames, 1–1024, default 64) → `{writer, reader}`, each `{channel_id, access_key, direction}`, opened as a WebSocket at `/ws/channels/<channel_id>?key=<access_key>&dir=write|read`',
  publish: 'Pub/sub (iii\'s name): `{topic, data}` → `null`; `data` goes to every function bound with a `subscribe` trigger to the topic, once each',
  'iii::durable::publish': 'Durable pub/sub (iii\'s name): `{topic, data}` → `null` once stored; `data` goes to every function bound with a `durable:subscriber` trigger to the topic, each on its own durable queue',
  'engine::queue::send': 'Stores a message: `{queue_name, body, delay_seconds?, message_group_id?, deduplication_id?}` → `{message_id}` (a duplicate within the deduplication window: the first send\'s id)',
  'engine::queue::list': 'Every queue that holds messages or has consumers → `{queues: [{queue_name, ready, in_flight, delayed, dead_lettered, oldest_message_age_seconds?, fifo, consumers}]}`',
  'engine::queue::dlq': 'Dead letters: `{queue_name | dead_letter_queue, action: list | redrive, limit?, message_ids?}` → `{messages}` or `{redriven}`',
} as const

export type EngineFunctionId = keyof typeof ENGINE_FUNCTIONS

/** Whether `id` names an engine function. */
export const isEngineFunction = (id: string): id is EngineFunctionId => Object.hasOwn(ENGINE_FUNCTIONS, id)
