const SECRET_NAME = /(_KEY|_SECRET|_TOKEN|_PASSWORD|_API_KEY)$/i;

/** A variable name that may hold a secret: such a variable never reaches an agent, whoever asked for it. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || name.toUpperCase() === "PRIVATE_KEY";
}
