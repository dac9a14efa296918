// What a model predicts: the three tasks, as values and as a schema. Its own module because the
// spec (spec.ts) and shape inference (shapes.ts) both need it and spec.ts uses shapes.ts.
import { Type } from 'typebox';

export const TASKS = ['binary_classification', 'multiclass_classification', 'regression'] as const;
export type Task = (typeof TASKS)[number];

export const TaskSchema = Type.Union(
  TASKS.map((t) => Type.Literal(t)) as unknown as [
    ReturnType<typeof Type.Literal<'binary_classification'>>,
    ReturnType<typeof Type.Literal<'multiclass_classification'>>,
    ReturnType<typeof Type.Literal<'regression'>>,
  ],
  { description: 'binary_classification (loss BCEWithLogits), multiclass_classification (CrossEntropy) or regression (MSE).' },
);
