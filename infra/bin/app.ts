// The CDK app: one stack, configured from cdk.json's `trainyard:*` context (override any with
// `-c trainyard:gpu=true` etc.). `npm run synth` writes cdk.out/ offline; `npm run deploy` deploys.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TrainyardStack, settingsFromContext } from '../lib/trainyard-stack.ts';

const app = new App();
const settings = settingsFromContext((key) => app.node.tryGetContext(key));
new TrainyardStack(app, settings.stackName, {
  settings,
  description: 'Trainyard: ML platform API (ALB + Auto Scaling group + CodeDeploy), RDS MySQL, S3, AWS Batch training',
  // No `env`: the template is environment-agnostic (synth needs no AWS account or network) and
  // deploys to whatever account and region the credentials name.
});
// cdk-nag's AwsSolutions pack as a policy validation plugin: a finding that is not acknowledged
// stops `cdk synth` and `cdk deploy`. Every acknowledgement is in lib/constructs/, next to the
// resource, with its reason.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
