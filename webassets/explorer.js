/* Whole-slide imaging and deep-zoom buttons on the series and instance pages of Orthanc Explorer
 * (/app/explorer.html): the yellow whole-slide viewer button on whole-slide series, a "Deep zoom" button on
 * other series that have frames and on instances whose first frame the plugin can show.
 *
 * Orthanc appends this script to the Explorer (jQuery 1.7 + jQuery Mobile 1.1) through
 * ExtendOrthancExplorer. plugin/wsi/explorer.py replaces the options literal at the bottom, enabling
 * only the buttons whose target routes exist. URLs are relative to /app/ so a reverse proxy that
 * mounts Orthanc under a sub-path keeps working. */
(function (options) {
  'use strict';

  var TOOLS_ID = 'wsi-py-tools';
  var INSTANCE_TOOLS_ID = 'wsi-py-instance-tools';
  var ROOT = '../wsi/';

  function seriesUrl(path, seriesId) {
    return ROOT + path.replace('{id}', encodeURIComponent(seriesId));
  }

  function absolute(relative) {
    return new URL(relative, window.location.href).href;
  }

  function linkButton(label, href, theme, icon, name) {
    return $('<a data-role="button" data-mini="true" rel="external" data-ajax="false" target="_blank"></a>')
      .attr({ href: href, 'data-theme': theme, 'data-icon': icon, 'data-wsi-button': name })
      .text(label);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http pages that are not localhost have no Clipboard API: fall back to a selection copy.
    return new Promise(function (resolve, reject) {
      var area = $('<textarea readonly></textarea>').val(text).css({ position: 'fixed', top: '-1000px' });
      $('body').append(area);
      area[0].select();
      var done = document.execCommand('copy');
      area.remove();
      if (done) { resolve(); } else { reject(new Error('copy refused')); }
    });
  }

  function copyButton(seriesId) {
    var url = absolute(seriesUrl('iiif/series/{id}/manifest.json', seriesId));
    var button = $('<a href="#" data-role="button" data-mini="true" data-icon="plus"></a>')
      .attr({ 'data-theme': 'c', 'data-wsi-button': 'copy-manifest', 'data-url': url })
      .text('Copy link to IIIF manifest');
    button.on('click', function (event) {
      event.preventDefault();
      var label = button.find('.ui-btn-text');
      copyText(url).then(function () {
        label.text('Manifest link copied');
        button.attr({ 'data-copied': 'true', title: url });
      }, function () {
        label.text('Copy refused by the browser');
        button.attr({ 'data-copied': 'false', title: url });
      });
    });
    return button;
  }

  function addWholeSlideButtons(tools, seriesId) {
    var viewer = linkButton('Whole-Slide Imaging Viewer',
      ROOT + 'app/viewer.html?series=' + encodeURIComponent(seriesId), 'e', 'search', 'viewer');
    var buttons = [viewer];
    if (options.exportTiff) {
      // A download (GET /wsi/export/{id}): the pyramidal TIFF that OpenSlide, QuPath and HistoQC read.
      buttons.push(linkButton('Export as pyramidal TIFF (SVS)', seriesUrl('export/{id}', seriesId), 'c', 'arrow-d',
        'export-tiff').removeAttr('target').attr('download', seriesId + '.svs'));
    }
    if (options.openSeadragon) {
      var info = absolute(seriesUrl('iiif/tiles/{id}/info.json', seriesId));
      buttons.push(linkButton('Test IIIF in OpenSeadragon',
        ROOT + 'app/osd.html?info=' + encodeURIComponent(info), 'c', 'arrow-r', 'openseadragon'));
    }
    for (var i = buttons.length - 1; i >= 0; i--) {
      tools.prepend(buttons[i]);
      buttons[i].buttonMarkup();
    }
  }

  function isCurrent(tools, attribute, id) {
    return $.contains(document, tools[0]) && tools.attr(attribute) === id;
  }

  function addDeepZoomButton(tools, query) {
    var button = linkButton('Deep zoom', ROOT + 'app/viewer.html?' + query, 'b', 'search', 'deep-zoom');
    tools.prepend(button);
    button.buttonMarkup();
  }

  // A series that is not whole-slide gets "Deep zoom" when it has frames to show (second request, made only
  // after the whole-slide check said no).
  function checkSeriesFrames(tools, seriesId) {
    $.ajax({ url: seriesUrl('series-frames/{id}', seriesId), dataType: 'json' }).done(function (answer) {
      if (answer && answer.Frames && answer.Frames.length && isCurrent(tools, 'data-series', seriesId)) {
        addDeepZoomButton(tools, 'series=' + encodeURIComponent(seriesId));
      }
    });
  }

  function refresh() {
    var seriesId = $.mobile.pageData && $.mobile.pageData.uuid;
    // Remove what an earlier showing of the page added, so buttons are never duplicated.
    $('#' + TOOLS_ID).remove();
    if (!seriesId) {
      return;
    }
    var tools = $('<div></div>').attr({ id: TOOLS_ID, 'data-series': seriesId });
    $('#series-info').after(tools);
    if (options.copyManifest) {
      tools.append(copyButton(seriesId).buttonMarkup());
    }
    if (options.mirador) {
      var manifest = absolute(seriesUrl('iiif/series/{id}/manifest.json', seriesId));
      tools.append(linkButton('Test IIIF in Mirador',
        ROOT + 'app/mirador.html?manifest=' + encodeURIComponent(manifest), 'c', 'arrow-r', 'mirador').buttonMarkup());
    }
    if (options.viewer) {
      // The one request per page view that tells whether the series is a whole-slide image.
      $.ajax({ url: seriesUrl('pyramids/{id}', seriesId), dataType: 'json' }).done(function () {
        if (isCurrent(tools, 'data-series', seriesId)) {
          addWholeSlideButtons(tools, seriesId);
        }
      }).fail(function (xhr) {
        if (options.deepZoom && xhr.status === 404 && isCurrent(tools, 'data-series', seriesId)) {
          checkSeriesFrames(tools, seriesId);
        }
      });
    }
  }

  function refreshInstance() {
    var instanceId = $.mobile.pageData && $.mobile.pageData.uuid;
    $('#' + INSTANCE_TOOLS_ID).remove();
    if (!instanceId || !options.deepZoom) {
      return;
    }
    var tools = $('<div></div>').attr({ id: INSTANCE_TOOLS_ID, 'data-instance': instanceId });
    $('#instance-info').after(tools);
    // One request per page view, to Orthanc itself: the instance's Rows (0028,0010), read from the tags,
    // whereas our frame pyramid would decode the frame (a 100 MB photograph) just to draw a button. Orthanc's
    // frame list is no help: it lists one frame for a report without pixels. No rows, no button.
    $.ajax({ url: '../instances/' + encodeURIComponent(instanceId) + '/content/0028,0010', dataType: 'text' })
      .done(function (rows) {
        // Orthanc answers the raw value (US: two bytes); absent tag: 404; zero rows: two NUL bytes.
        if (/[^\0]/.test(rows) && isCurrent(tools, 'data-instance', instanceId)) {
          addDeepZoomButton(tools, 'instance=' + encodeURIComponent(instanceId) + '&frame=0');
        }
      });
  }

  $(document).on('pagebeforeshow', '#series', refresh);
  $(document).on('pagebeforeshow', '#instance', refreshInstance);

  // ---- "Import slide" on the upload page: POST /wsi/dicomize, then follow the job -------------------------
  var IMPORT_ID = 'wsi-py-import';

  function importStatus(box, text, percent) {
    box.find('[data-wsi-import=status]').text(text);
    if (percent !== null) {
      box.find('progress').attr('value', percent);
      box.attr('data-percent', Math.round(percent));
    }
  }

  function followJob(box, job) {
    $.ajax({ url: ROOT + 'jobs/' + encodeURIComponent(job), dataType: 'json', cache: false }).done(function (state) {
      box.attr('data-state', state.State);
      if (state.State === 'Pending' || state.State === 'Running') {
        importStatus(box, 'Converting: ' + Math.round(state.Progress) + ' %', 50 + state.Progress / 2);
        setTimeout(function () { followJob(box, job); }, 500);
        return;
      }
      box.find('[data-wsi-import=cancel]').hide();
      if (state.State === 'Success') {
        importStatus(box, 'Done: ' + state.Instances.length + ' instances', 100);
        box.find('[data-wsi-import=series]').attr('href', '#series?uuid=' + encodeURIComponent(state.Series)).show();
      } else {
        importStatus(box, state.State === 'Cancelled' ? 'Cancelled: nothing was kept'
          : 'Failed (' + state.ErrorStatus + '): ' + state.ErrorMessage, null);
      }
    }).fail(function () { importStatus(box, 'Lost track of the conversion', null); });
  }

  function sendSlide(box, file) {
    var xhr = new XMLHttpRequest();
    box.attr('data-state', 'Uploading');
    box.find('[data-wsi-import=series]').hide();
    importStatus(box, 'Uploading ' + file.name, 0);
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) { importStatus(box, 'Uploading ' + file.name, 50 * event.loaded / event.total); }
    };
    xhr.onload = function () {
      if (xhr.status !== 202) {
        box.attr('data-state', 'Failure');
        importStatus(box, 'Refused (' + xhr.status + '): ' + xhr.responseText, null);
        return;
      }
      var job = JSON.parse(xhr.responseText).ID;
      box.find('[data-wsi-import=cancel]').show().off('click').on('click', function (event) {
        event.preventDefault();
        $.ajax({ url: ROOT + 'jobs/' + encodeURIComponent(job) + '/cancel', type: 'POST' });
      });
      followJob(box, job);
    };
    xhr.onerror = function () { importStatus(box, 'Upload failed', null); };
    xhr.open('POST', ROOT + 'dicomize');
    // The raw file as the body (Orthanc answers multipart/form-data itself); options in this header.
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-WSI-Options', 'compression=keep');
    xhr.send(file);
  }

  function addImportTool() {
    if (!options.importSlide || $('#' + IMPORT_ID).length) {
      return;
    }
    var box = $('<div></div>').attr({ id: IMPORT_ID, 'data-state': 'Idle' }).css({ margin: '1em 0' });
    var input = $('<input type="file" data-role="none">').attr('data-wsi-import', 'file').hide();
    var button = $('<a href="#" data-role="button" data-icon="plus" data-theme="e"></a>')
      .attr('data-wsi-button', 'import-slide').text('Import slide (TIFF, SVS, PNG, JPEG, scanner formats)');
    button.on('click', function (event) { event.preventDefault(); input.trigger('click'); });
    input.on('change', function () {
      if (this.files && this.files.length) { sendSlide(box, this.files[0]); }
      this.value = '';
    });
    box.append(button, input,
      $('<progress max="100" value="0"></progress>').css({ width: '100%' }),
      $('<div></div>').attr('data-wsi-import', 'status'),
      $('<a href="#" data-role="button" data-mini="true" data-inline="true"></a>').attr('data-wsi-import', 'cancel')
        .text('Cancel').hide(),
      $('<a data-role="button" data-mini="true" data-inline="true" data-theme="e"></a>')
        .attr('data-wsi-import', 'series').text('Open the new series').hide());
    $('#upload [data-role=content]').prepend(box);
    box.find('[data-role=button]').buttonMarkup();
  }

  $(document).on('pagebeforeshow', '#upload', addImportTool);
})(/*WSI_OPTIONS*/{});
