// The layer catalogue, from the platform's generated contract (contracts/layers.schema.json, written
// by scripts/gen-contracts.ts from the API's own layer schemas): the dashboard offers exactly the
// layers the API accepts, with their arguments and defaults.
import catalogue from '../../contracts/layers.schema.json';

interface ArgumentSchema {
  description?: string;
  default?: unknown;
}

interface LayerSchema {
  description?: string;
  required?: string[];
  properties: Record<string, ArgumentSchema>;
}

const LAYERS = catalogue.definitions as unknown as Record<string, LayerSchema>;

/** Every layer type the API accepts, in the catalogue's order. */
export const LAYER_TYPES: readonly string[] = Object.keys(LAYERS);

/** The arguments shape inference fills in from the data when they are left out. */
const INFERRED = new Set(['in_features', 'num_features', 'normalized_shape', 'in_channels']);

export interface LayerArgument {
  name: string;
  required: boolean;
  inferred: boolean;
  default?: unknown;
  description: string;
}

export function layerInfo(type: string): { description: string; arguments: LayerArgument[] } | undefined {
  const layer = Object.hasOwn(LAYERS, type) ? LAYERS[type] : undefined;
  if (!layer) return undefined;
  const required = new Set(layer.required ?? []);
  return {
    description: layer.description ?? '',
    arguments: Object.entries(layer.properties)
      .filter(([name]) => name !== 'type' && name !== 'inplace')
      .map(([name, schema]) => ({ name, required: required.has(name), inferred: INFERRED.has(name), default: schema.default, description: schema.description ?? '' })),
  };
}

/** "out_features (required), bias = true, in_features (inferred)": what a layer takes, for a hint under its row. */
export function argumentsHint(type: string): string | undefined {
  const info = layerInfo(type);
  if (!info) return undefined;
  const parts = info.arguments.map((a) => (a.required ? `${a.name} (required)` : a.inferred ? `${a.name} (inferred)` : a.default !== undefined ? `${a.name} = ${JSON.stringify(a.default)}` : a.name));
  return parts.length ? `${info.description} Arguments: ${parts.join(', ')}.` : `${info.description} No arguments.`;
}
