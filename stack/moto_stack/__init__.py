"""moto_stack: `template.yaml` created as a CloudFormation stack in moto, described as a manifest.

The stack runner (`stack/src`) runs each function's workspace binary locally; this package
gives it the deployed stack those binaries run in. It

1. starts moto in this process, on 127.0.0.1 only;
2. expands the SAM template with samtranslator, each function's `CodeUri` replaced by a
   placeholder zip uploaded to moto's S3 (the real code runs in the runner);
3. creates the expanded template as a stack through moto's CloudFormation, so every name,
   ARN, URL and resolved environment variable is what CloudFormation produced;
4. disables the SQS event source mappings (the runner polls the queues; moto would invoke
   Lambda through Docker) and verifies the SES identities an operator verifies before
   deploying;
5. writes the manifest `stack/src/manifest.rs` reads, every value read back from moto
   through its AWS APIs, and serves moto until SIGTERM/SIGINT or EOF on stdin (the runner
   holds stdin open, so moto ends with it).

Why in-process: moto's CloudFormation lacks resource types the expanded template uses
(`AWS::ApiGatewayV2::Api` and `::Stage`, `AWS::Lambda::Url`, `AWS::CloudWatch::Alarm`,
`AWS::SNS::Subscription`) and drops properties of two others (a role's ManagedPolicyArns, a
table's TTL and point-in-time recovery). `cfn_models` adds and completes them as moto
CloudFormation models on moto's own service backends, which only works in the process that
serves moto.

moto limits the manifest in one place: its Lambda keeps no LoggingConfig, so a function's
log format, level and group come from the template, Refs resolved from the stack.

    .venv/bin/python stack/moto_stack --template template.yaml --manifest stack.json \\
        --parameter MailFromAddress=smsflow@acme.example --mail-identity acme.example
"""
