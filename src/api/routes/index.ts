// Every resource's route module, in the order they appear in the OpenAPI document.
import type { RouteModule } from '../route-context.ts';
import { datasetRoutes } from './datasets.ts';
import { importJobRoutes } from './import-jobs.ts';
import { modelRoutes } from './models.ts';
import { trainingJobRoutes } from './training-jobs.ts';
import { predictRoutes } from './predict.ts';
import { inferenceJobRoutes } from './inference-jobs.ts';
import { tuningJobRoutes } from './tuning-jobs.ts';
import { tokenRoutes } from '../../auth/routes.ts';
import { dashboardRoutes } from './dashboard.ts';
import { monitoringRoutes } from './monitoring.ts';

export const ALL_ROUTES: RouteModule[] = [datasetRoutes, importJobRoutes, modelRoutes, trainingJobRoutes, tuningJobRoutes, predictRoutes, monitoringRoutes, inferenceJobRoutes, dashboardRoutes, tokenRoutes];
