import Mustache

/// The portal's pages. Mustache escapes every `{{value}}` for HTML, so names, notes and
/// anything else a person typed are shown as text, never as markup.
enum PortalTemplates {
    static func library() throws -> MustacheLibrary {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in sources { templates[name] = try MustacheTemplate(string: text) }
        return MustacheLibrary(templates: templates)
    }

    static let sources: [String: String] = [
        "head": """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{{title}} · Portcullis</title>
            <link rel="stylesheet" href="/portal/static/portal.css">
            </head><body>
            <header><a class="brand" href="{{home}}">Portcullis</a>
            {{#nav}}<nav aria-label="Main"><a href="/portal">Overview</a> <a href="/portal/customers">Customers</a>
            <a href="/portal/registries">Registries</a> <a href="/portal/releases">Releases</a> <a href="/portal/tokens">Tokens</a>
            <a href="/portal/domains">Domains</a> <a href="/portal/audit">Audit</a></nav>{{/nav}}
            {{#signedIn}}<form method="post" action="{{logout}}" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
            <span class="who">{{signedIn}}</span> <button type="submit">Sign out</button></form>{{/signedIn}}
            </header><main>
            {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
            {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
            """,
        "foot": """
            </main>
            <script src="/portal/static/portal.js"></script>
            </body></html>
            """,
        "login": """
            {{> head}}
            <h1>{{heading}}</h1>
            <form method="post" action="{{action}}">
            <input type="hidden" name="csrf" value="{{csrf}}">
            {{#email}}<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" value="{{typedEmail}}" required>
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>{{/email}}
            {{^email}}<label for="license">License ID</label><input id="license" name="license" type="password" autocomplete="current-password" required>{{/email}}
            <button type="submit">Sign in</button>
            </form>
            {{> foot}}
            """,
        "overview": """
            {{> head}}
            <h1>Overview</h1>
            <h2>Apps</h2>
            {{^apps}}<p class="empty">No apps yet — create one below (or <code>portcullis app create SLUG</code>).</p>{{/apps}}
            {{#hasApps}}<table><thead><tr><th scope="col">Slug</th><th scope="col">Name</th></tr></thead><tbody>
            {{#apps}}<tr><td>{{slug}}</td><td>{{name}}</td></tr>{{/apps}}
            </tbody></table>{{/hasApps}}
            {{#canChange}}<form method="post" action="/portal/apps" id="new-app"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("newApp", "form"))
            <label for="aslug">New app (slug)</label><input id="aslug" name="slug" value="{{newApp.typed.slug}}" required>\(err("newApp", "slug"))
            <label for="aname">Name</label><input id="aname" name="name" value="{{newApp.typed.name}}">\(err("newApp", "name"))
            <button type="submit">Create app</button></form>{{/canChange}}
            <h2>Licenses expiring within 30 days</h2>
            {{^expiring}}<p class="empty">None.</p>{{/expiring}}
            {{#hasExpiring}}<table><thead><tr><th scope="col">Customer</th><th scope="col">App</th><th scope="col">Expires</th></tr></thead><tbody>
            {{#expiring}}<tr><td><a href="/portal/customers/{{id}}">{{name}}</a></td><td>{{app}}</td><td>{{expires}}</td></tr>{{/expiring}}
            </tbody></table>{{/hasExpiring}}
            {{> foot}}
            """,
        "customers": """
            {{> head}}
            <h1>Customers</h1>
            {{^hasCustomers}}<p class="empty">No customers yet — create one below; each gets a license ID to pull with.</p>{{/hasCustomers}}
            {{#hasCustomers}}<table><thead><tr><th scope="col">Name</th><th scope="col">App</th><th scope="col">Channel</th><th scope="col">Type</th>
            <th scope="col">Status</th><th scope="col">Expires</th></tr></thead><tbody>
            {{#customers}}<tr><td><a href="/portal/customers/{{id}}">{{name}}</a></td><td>{{app}}</td><td>{{channel}}</td><td>{{type}}</td>
            <td>{{status}}</td><td>{{expires}}</td></tr>{{/customers}}
            </tbody></table>{{/hasCustomers}}
            {{#canChange}}<h2>New customer</h2>
            <form method="post" action="/portal/customers" id="new-customer"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("newCustomer", "form"))
            <label for="app">App</label><select id="app" name="app">{{#apps}}<option value="{{slug}}" {{#selected}}selected{{/selected}}>{{slug}}</option>{{/apps}}</select>\(err("newCustomer", "app"))
            <label for="name">Name</label><input id="name" name="name" value="{{newCustomer.typed.name}}" required>\(err("newCustomer", "name"))
            <label><input type="checkbox" name="allowDuplicate"> Create it even if a customer has this name</label>
            <label for="email">Email</label><input id="email" name="email" type="email" value="{{newCustomer.typed.email}}">\(err("newCustomer", "email"))
            <label for="channel">Channel</label><input id="channel" name="channel" list="channel-names" autocomplete="off" value="{{#newCustomer}}{{typed.channel}}{{/newCustomer}}{{^newCustomer}}Stable{{/newCustomer}}">\(err("newCustomer", "channel"))
            <datalist id="channel-names">{{#channelNames}}<option value="{{.}}">{{/channelNames}}</datalist>
            <label for="type">License type</label><select id="type" name="type">{{#types}}<option {{#selected}}selected{{/selected}}>{{value}}</option>{{/types}}</select>\(err("newCustomer", "type"))
            <label for="days">Expires in days (empty: never)</label><input id="days" name="days" inputmode="numeric" value="{{newCustomer.typed.days}}">\(err("newCustomer", "days"))
            <button type="submit">Create customer</button></form>{{/canChange}}
            {{> foot}}
            """,
        "customer": """
            {{> head}}
            <h1>{{name}}</h1>
            {{#banner}}<p class="banner" role="status">{{banner}}</p>{{/banner}}
            <table class="details"><tbody>
            <tr><th scope="row">App</th><td>{{app}}</td></tr><tr><th scope="row">Channel</th><td>{{channel}}</td></tr>
            <tr><th scope="row">License type</th><td>{{type}}</td></tr><tr><th scope="row">Status</th><td>{{status}}</td></tr>
            <tr><th scope="row">Expires</th><td>{{expires}}</td></tr><tr><th scope="row">Email</th><td>{{email}}</td></tr>
            <tr><th scope="row">Helm install</th><td>{{#helm}}allowed{{/helm}}{{^helm}}not allowed{{/helm}}</td></tr>
            </tbody></table>
            <h2>License ID</h2><p><code id="license">{{licenseID}}</code> <button type="button" data-copy="license">Copy</button></p>
            {{#installable}}<h2>Pull secret</h2><pre id="pullsecret" class="wrap">{{pullSecret}}</pre><button type="button" data-copy="pullsecret">Copy</button>
            <h2>What the customer sees</h2>
            <p>At <a href="/account">the customer portal</a>, signed in with the license ID:</p>
            {{#hostNotice}}<p class="banner" role="status">{{hostNotice}}</p>{{/hostNotice}}
            <pre class="wrap">{{loginCommand}}
            {{#releases}}{{command}}
            {{/releases}}</pre>{{/installable}}
            {{#canChange}}<form method="post" action="/portal/customers/{{id}}/{{toggle}}" class="row" data-confirm="{{toggleConfirm}}"><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">{{toggleLabel}}</button></form>
            <h2>Edit</h2>
            <form method="post" action="/portal/customers/{{id}}/edit" id="edit-customer"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("editCustomer", "form"))
            <label for="ename">Name</label><input id="ename" name="name" value="{{#editCustomer}}{{typed.name}}{{/editCustomer}}{{^editCustomer}}{{name}}{{/editCustomer}}">\(err("editCustomer", "name"))
            <label for="eemail">Email</label><input id="eemail" name="email" type="email" value="{{#editCustomer}}{{typed.email}}{{/editCustomer}}{{^editCustomer}}{{email}}{{/editCustomer}}">\(err("editCustomer", "email"))
            <label for="echannel">Channel</label><input id="echannel" name="channel" value="{{#editCustomer}}{{typed.channel}}{{/editCustomer}}{{^editCustomer}}{{channel}}{{/editCustomer}}">\(err("editCustomer", "channel"))
            <label for="etype">License type</label><select id="etype" name="type">{{#types}}<option {{#selected}}selected{{/selected}}>{{value}}</option>{{/types}}</select>\(err("editCustomer", "type"))
            <label for="edays">Expires in days from now</label><input id="edays" name="days" inputmode="numeric" value="{{editCustomer.typed.days}}">\(err("editCustomer", "days"))
            <label><input type="checkbox" name="never"> Never expires</label>
            <label><input type="checkbox" name="helm" {{#helm}}checked{{/helm}}> May install with Helm</label>
            <button type="submit">Save</button></form>{{/canChange}}
            <h2>Instances</h2>
            {{#hasInstances}}<table><thead><tr><th scope="col">Instance</th><th scope="col">Version</th><th scope="col">Behind</th>
            <th scope="col">Status</th><th scope="col">Kubernetes</th><th scope="col">Last check-in</th><th scope="col">Active</th>
            </tr></thead><tbody>
            {{#instances}}<tr><td><code>{{id}}</code></td><td>{{version}}</td><td>{{behind}}</td><td>{{status}}</td><td>{{k8s}}</td>
            <td>{{lastCheckin}}</td><td>{{active}}</td></tr>{{/instances}}
            </tbody></table>{{#moreInstances}}<p>And {{moreInstances}}</p>{{/moreInstances}}{{/hasInstances}}
            {{^hasInstances}}<p>No instance has reported yet. Instances appear here once the app's chart, with the
            <code>portcullis-sdk</code> subchart, runs in the customer's cluster.</p>{{/hasInstances}}
            <h2>Pulls, last 14 days</h2>
            <div class="scroll">{{{chart}}}</div>
            <h3>Per image</h3>
            {{^images}}<p class="empty">Nothing pulled in these 14 days.</p>{{/images}}
            {{#hasImages}}<table><thead><tr><th scope="col">Repository</th><th scope="col">Requests</th><th scope="col">Bytes</th>
            <th scope="col">Refused</th></tr></thead><tbody>
            {{#images}}<tr><td>{{repository}}</td><td>{{requests}}</td><td>{{bytes}}</td><td>{{refused}}</td></tr>{{/images}}
            </tbody></table>{{/hasImages}}
            {{#hasRefusals}}<h3>Refused because</h3>
            <ul>{{#refusals}}<li>{{reason}} ({{count}})</li>{{/refusals}}</ul>{{/hasRefusals}}
            <h2>Recent requests</h2>
            {{^pulls}}<p class="empty">No requests yet.</p>{{/pulls}}
            {{#hasPulls}}<table><thead><tr><th scope="col">At</th><th scope="col">Action</th><th scope="col">Repository</th><th scope="col">Status</th>
            <th scope="col">Reason</th></tr></thead><tbody>
            {{#pulls}}<tr><td>{{at}}</td><td>{{action}}</td><td>{{repository}}</td><td>{{status}}</td><td>{{reason}}</td></tr>{{/pulls}}
            </tbody></table>{{/hasPulls}}
            {{> foot}}
            """,
        "registries": """
            {{> head}}
            <h1>External registries</h1>
            {{^hasRegistries}}<p class="empty">No registries yet — add the one your images live in below; customers then pull them through the proxy.</p>{{/hasRegistries}}
            {{#hasRegistries}}<table><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Endpoint</th><th scope="col">Login</th>
            <th scope="col">Apps</th>{{#canChange}}<th scope="col">Test or remove</th>{{/canChange}}</tr></thead><tbody>
            {{#registries}}<tr><td>{{name}}</td><td>{{provider}}</td><td>{{endpoint}}</td><td>{{authType}}</td><td>{{apps}}</td>
            {{#canChange}}<td><form method="post" action="/portal/registries/{{name}}/test" class="row"><input type="hidden" name="csrf" value="{{csrf}}">
            <label for="test-{{name}}">Image</label><input id="test-{{name}}" name="image" placeholder="org/api:1.0" required>
            <button type="submit">Test</button></form>
            <form method="post" action="/portal/registries/{{name}}/remove" class="row" data-confirm="Remove the registry {{name}}? Pulls through it stop at once."><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/registries}}
            </tbody></table>{{/hasRegistries}}
            {{#canChange}}<h2>Add a registry</h2>
            <form method="post" action="/portal/registries" id="add-registry"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("addRegistry", "form"))
            <label for="kind">Kind</label><select id="kind" name="kind">{{#kinds}}<option {{#selected}}selected{{/selected}}>{{value}}</option>{{/kinds}}</select>\(err("addRegistry", "kind"))
            <label for="endpoint">Endpoint</label><input id="endpoint" name="endpoint" placeholder="quay.io" value="{{addRegistry.typed.endpoint}}">\(err("addRegistry", "endpoint"))
            <label for="rname">Name</label><input id="rname" name="name" value="{{addRegistry.typed.name}}">\(err("addRegistry", "name"))
            <label for="username">Username or access key ID</label><input id="username" name="username" autocomplete="off" value="{{addRegistry.typed.username}}">\(err("addRegistry", "username"))
            <label for="secret">Password, token or secret key (never shown again)</label><input id="secret" name="secret" type="password" autocomplete="new-password">
            <label for="region">Region (ECR)</label><input id="region" name="region" value="{{addRegistry.typed.region}}">\(err("addRegistry", "region"))
            <label for="rapp">App</label><select id="rapp" name="app">{{#apps}}<option value="{{slug}}" {{#selected}}selected{{/selected}}>{{slug}}</option>{{/apps}}</select>\(err("addRegistry", "app"))
            <button type="submit">Add registry</button></form>{{/canChange}}
            {{> foot}}
            """,
        "releases": """
            {{> head}}
            <h1>Releases of {{app}}</h1>
            <form method="get" action="/portal/releases" class="row"><label for="sapp">App</label>
            <select id="sapp" name="app">{{#apps}}<option value="{{slug}}" {{#selected}}selected{{/selected}}>{{slug}}</option>{{/apps}}</select>
            <button type="submit">Show</button></form>
            {{^hasReleases}}<p class="empty">No releases yet — upload a packaged chart below (<code>helm package</code>), or use <code>portcullis release create</code>.</p>{{/hasReleases}}
            {{#hasReleases}}<table><thead><tr><th scope="col">Sequence</th><th scope="col">Charts</th><th scope="col">Notes</th><th scope="col">Channels</th></tr></thead><tbody>
            {{#releases}}<tr><td>{{sequence}}</td><td>{{charts}}</td><td>{{notes}}</td><td>{{channels}}</td></tr>{{/releases}}
            </tbody></table>{{/hasReleases}}
            {{#canChange}}<h2>New release</h2>
            <form method="post" action="/portal/releases" enctype="multipart/form-data" id="new-release"><input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="app" value="{{app}}">
            \(err("newRelease", "form"))
            <label for="chart">Chart archives (.tgz)</label><input id="chart" name="chart" type="file" accept=".tgz,application/gzip" multiple required>\(err("newRelease", "chart"))
            <label for="nversion">Version label</label><input id="nversion" name="version" value="{{newRelease.typed.version}}" required>\(err("newRelease", "version"))
            <label for="nnotes">Release notes</label><input id="nnotes" name="notes" value="{{newRelease.typed.notes}}">\(err("newRelease", "notes"))
            <label for="promote">Promote to</label><select id="promote" name="promote">{{#promoteTo}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/promoteTo}}</select>\(err("newRelease", "promote"))
            <button type="submit">Create release</button></form>
            <h2>Promote</h2>
            <form method="post" action="/portal/releases/promote" id="promote-release"><input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="app" value="{{app}}">
            \(err("promote", "form"))
            <label for="sequence">Sequence</label><input id="sequence" name="sequence" inputmode="numeric" value="{{promote.typed.sequence}}" required>\(err("promote", "sequence"))
            <label for="pchannel">Channel</label><select id="pchannel" name="channel">{{#channels}}<option {{#selected}}selected{{/selected}}>{{value}}</option>{{/channels}}</select>\(err("promote", "channel"))
            <label for="version">Version label</label><input id="version" name="version" value="{{promote.typed.version}}" required>\(err("promote", "version"))
            <label for="notes">Release notes</label><input id="notes" name="notes" value="{{promote.typed.notes}}">\(err("promote", "notes"))
            <button type="submit">Promote</button></form>{{/canChange}}
            {{> foot}}
            """,
        "tokens": """
            {{> head}}
            <h1>Vendor tokens</h1>
            {{#created}}<p class="notice">The new token, shown once: <code id="newtoken">{{created}}</code>
            <button type="button" data-copy="newtoken">Copy</button></p>{{/created}}
            {{^hasTokens}}<p class="empty">No tokens yet — create one below for CI to push images with.</p>{{/hasTokens}}
            {{#hasTokens}}<table><thead><tr><th scope="col">Name</th><th scope="col">Scope</th><th scope="col">Created</th>{{#canChange}}<th scope="col">Remove</th>{{/canChange}}</tr></thead><tbody>
            {{#tokens}}<tr><td>{{name}}</td><td>{{scope}}</td><td>{{created}}</td>{{#canChange}}<td>
            <form method="post" action="/portal/tokens/{{id}}/remove" class="row" data-confirm="Remove this token? Whatever uses it stops working at once."><input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/tokens}}
            </tbody></table>{{/hasTokens}}
            {{#canChange}}<h2>New token</h2>
            <form method="post" action="/portal/tokens" id="new-token"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("newToken", "form"))
            <label for="tname">Name</label><input id="tname" name="name" value="{{newToken.typed.name}}" required>\(err("newToken", "name"))
            <label for="tscope">Scope</label><select id="tscope" name="scope">{{#scopes}}<option {{#selected}}selected{{/selected}}>{{value}}</option>{{/scopes}}</select>\(err("newToken", "scope"))
            <button type="submit">Create token</button></form>{{/canChange}}
            {{> foot}}
            """,
        "domains": """
            {{> head}}
            <h1>Custom domains</h1>
            {{^hasDomains}}<p class="empty">No custom domains yet — add one below to serve an app under its own host name.</p>{{/hasDomains}}
            {{#hasDomains}}<table><thead><tr><th scope="col">Domain</th><th scope="col">App</th><th scope="col">Own certificate</th>{{#canChange}}<th scope="col">Remove</th>{{/canChange}}</tr></thead><tbody>
            {{#domains}}<tr><td>{{name}}</td><td>{{app}}</td><td>{{certificate}}</td>{{#canChange}}<td>
            <form method="post" action="/portal/domains/{{name}}/remove" class="row" data-confirm="Remove the domain {{name}}? Customers pulling through it are refused at once."><input type="hidden" name="csrf" value="{{csrf}}">
            <label><input type="checkbox" name="force"> even if charts name it</label><button type="submit">Remove</button></form></td>{{/canChange}}</tr>{{/domains}}
            </tbody></table>{{/hasDomains}}
            {{#canChange}}<h2>Add a domain</h2>
            <p>Certificates are added with <code>portcullis domain add NAME --app APP --cert F --key F</code>.</p>
            <form method="post" action="/portal/domains" id="new-domain"><input type="hidden" name="csrf" value="{{csrf}}">
            \(err("newDomain", "form"))
            <label for="dname">Domain</label><input id="dname" name="name" placeholder="registry.example.com" value="{{newDomain.typed.name}}" required>\(err("newDomain", "name"))
            <label for="dapp">App</label><select id="dapp" name="app">{{#apps}}<option value="{{slug}}" {{#selected}}selected{{/selected}}>{{slug}}</option>{{/apps}}</select>\(err("newDomain", "app"))
            <button type="submit">Add domain</button></form>{{/canChange}}
            {{> foot}}
            """,
        "audit": """
            {{> head}}
            <h1>Audit log</h1>
            {{^events}}<p class="empty">Nothing recorded yet: changes made here, with the CLI or the API appear as they happen.</p>{{/events}}
            {{#hasEvents}}<table><thead><tr><th scope="col">At</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Subject</th></tr></thead><tbody>
            {{#events}}<tr><td>{{at}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{subject}}</td></tr>{{/events}}
            </tbody></table>{{/hasEvents}}
            {{> foot}}
            """,
        "problem": """
            {{> head}}
            <h1>{{heading}}</h1>
            {{#back}}<p><a href="{{href}}">Back to {{label}}</a></p>{{/back}}
            {{> foot}}
            """,
        "install": """
            {{> head}}
            <h1>Install {{appName}}</h1>
            <p>Signed in as {{customer}} · channel {{channel}} · license {{status}}</p>
            {{#plainHTTP}}<p class="notice">This registry is served over plain HTTP: the commands below carry
            <code>--plain-http</code>, and your cluster's container runtime must be allowed to pull from
            <code>http://{{host}}</code> (containerd: a <code>hosts.toml</code> for {{host}} with <code>server = "http://{{host}}"</code>;
            Docker: <code>insecure-registries</code>).</p>{{/plainHTTP}}
            {{#hostNotice}}<p class="banner" role="status">{{hostNotice}}</p>{{/hostNotice}}
            <h2>1. Log in to the registry</h2>
            <pre id="login" class="wrap">{{loginCommand}}</pre>
            <button type="button" data-copy="login">Copy</button>
            <p>Helm asks for a password: give it your license ID.</p>
            <h2>2. Install</h2>
            {{^releases}}<p>No release is available on your channel yet.</p>{{/releases}}
            {{#releases}}<pre id="install-{{index}}" class="wrap">{{command}}</pre>
            <button type="button" data-copy="install-{{index}}">Copy</button>{{/releases}}
            <h2>Images</h2>
            <p>Images come through the proxy; your cluster pulls them with this pull secret:</p>
            <ul>{{#images}}<li><code>{{.}}</code></li>{{/images}}</ul>
            <p>A chart installed as above creates this secret itself. To run the images another way (a Helm post-renderer, plain
            manifests), <a href="/account/pull-secret.json" download="pull-secret.json">download the pull secret</a> and create it
            in the namespace they run in:</p>
            <pre id="secret" class="wrap">kubectl create secret generic {{pullSecret}} --type=kubernetes.io/dockerconfigjson --from-file=.dockerconfigjson=pull-secret.json</pre>
            <button type="button" data-copy="secret">Copy</button>
            {{> foot}}
            """,
    ]

    /// Where a form's refusal is shown: after the field it is about (`field`), or at the top of
    /// the form (`"form"`); tied to the field for screen readers.
    static func err(_ form: String, _ field: String) -> String {
        "{{#\(form).errors.\(field)}}<p class=\"field-error\" role=\"alert\" id=\"\(form)-\(field)-error\">{{.}}</p>{{/\(form).errors.\(field)}}"
    }

    /// The portal's only script, served as a file so no inline script is allowed (CSP `script-src 'self'`).
    static let script = """
        // Actions that stop pulls at once ask first (without JavaScript they do not: the form
        // still needs its token, and the action can be undone).
        for (const f of document.querySelectorAll("form[data-confirm]")) {
          f.addEventListener("submit", (event) => { if (!window.confirm(f.dataset.confirm)) event.preventDefault(); });
        }
        // The clipboard API exists only in secure contexts (HTTPS, or loopback): on plain HTTP
        // under a host name the text is selected instead, for Ctrl+C, and the button says so.
        for (const b of document.querySelectorAll("button[data-copy]")) {
          b.addEventListener("click", () => {
            const source = document.getElementById(b.dataset.copy);
            const said = (text) => { b.textContent = text; setTimeout(() => { b.textContent = "Copy"; }, 2000); };
            const select = () => {
              const range = document.createRange();
              range.selectNodeContents(source);
              const selection = window.getSelection();
              selection.removeAllRanges();
              selection.addRange(range);
              said("Selected: press Ctrl+C");
            };
            if (navigator.clipboard && window.isSecureContext) {
              navigator.clipboard.writeText(source.textContent).then(() => said("Copied"), select);
            } else {
              select();
            }
          });
        }

        """

    static let stylesheet = """
        :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
        body { margin: 0; } main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
        header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .75rem 1rem; background: #1d2330; color: #fff; }
        header a { color: #fff; } .brand { font-weight: 700; text-decoration: none; }
        nav a { margin-right: .75rem; } form.inline { margin-left: auto; }
        table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0 1rem; }
        th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #dde1e7; overflow-wrap: break-word; }
        h1, h2, p, li, td { overflow-wrap: anywhere; } th { overflow-wrap: normal; }
        form.row { display: flex; gap: .4rem; align-items: center; padding: 0; border: 0; background: none; max-width: none; }
        form:not(.inline):not(.row) { display: grid; gap: .4rem; max-width: 28rem; background: #fff; padding: 1rem; border: 1px solid #dde1e7; }
        input, select, button { font: inherit; padding: .35rem; }
        button { cursor: pointer; } pre, code { background: #eef0f3; padding: .3rem; overflow-x: auto; }
        pre.wrap { white-space: pre-wrap; overflow-wrap: anywhere; }
        .notice { background: #e3f4e8; padding: .5rem; } .error { background: #fbe4e4; padding: .5rem; }
        .field-error { color: #9b1c1c; background: #fbe4e4; margin: 0 0 .3rem; padding: .25rem .4rem; font-size: .9rem; }
        .banner { background: #fff4d6; border: 1px solid #e0b84c; padding: .6rem; font-weight: 600; }
        .empty { color: #4b5563; font-style: italic; }
        table.details { width: auto; min-width: 20rem; } table.details th { width: 9rem; color: #4b5563; font-weight: 600; }
        svg { background: #fff; border: 1px solid #dde1e7; max-width: 100%; height: auto; }
        /* The pull chart keeps its size on a phone (shrunk to fit, its labels were 5 px tall): it scrolls. */
        .scroll { overflow-x: auto; } .scroll svg { max-width: none; }
        @media (max-width: 40rem) { th, td { font-size: .9rem; } table:not(.details) { display: block; overflow-x: auto; } }
        """
}
