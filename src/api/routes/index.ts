// Every resource's route module, in the order they appear in the OpenAPI document.
import type { RouteModule } from '../app.ts';

export const ALL_ROUTES: RouteModule[] = [];
