/** The caller's settings of each plugin, validated by the server against the plugin's schema. */
export class PluginSettings {
  constructor(client) {
    this.client = client;
  }

  /** The caller's settings of `plugin`, over the plugin's defaults. */
  get(plugin) {
    return this.client.request("GET", `/api/plugin-settings/${encodeURIComponent(plugin)}`);
  }

  /**
   * Replace the caller's settings of `plugin`; answers the merged settings. Invalid values
   * raise a ValidationError whose `field` is the dotted path of the failing value.
   */
  save(plugin, values) {
    const path = `/api/plugin-settings/${encodeURIComponent(plugin)}`;
    return this.client.request("POST", path, { body: values });
  }
}
