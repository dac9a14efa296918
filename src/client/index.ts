// The typed Trainyard API client, shared by the CLI and the dashboard.
export { TrainyardClient, epochList, toEpochPoint, logLines, logLine, type ClientOptions, type Query, type RequestOptions, type TrainingEvent } from './client.ts';
export { ApiError, UnreachableError, networkReason } from './errors.ts';
export { parseSse, type SseEvent } from './sse.ts';
export * from './types.ts';
