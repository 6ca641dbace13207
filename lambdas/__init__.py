"""Code that runs in AWS Lambda, packaged apart from the Pulumi program."""
