#!/usr/bin/env bash
# Java side of `make test-deps`: a JDK 17 and Maven (Debian's packages when missing), then one
# Maven reactor build of the Java SDK (clients/java, code generated from proto/) and the Java
# examples: Maven downloads the dependencies and protoc, and the conformance app is built to
# examples/java/conformance/target/nksip-conformance.jar.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
scripts/apt-install.sh "${need[@]}"

mvn -q -B -ntp -f examples/java/pom.xml package -DskipTests
echo "java: SDK built, conformance app built (examples/java/conformance/target/nksip-conformance.jar)"
